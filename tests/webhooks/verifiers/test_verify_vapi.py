"""VapiWebhookVerifier: shared-secret header (X-Vapi-Secret or Bearer) and HMAC plans."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import (
    NOW,
    URL,
    bodies,
    clock,
    flip,
    flip_char,
    offsets,
    rejected,
    req,
    secrets,
)

from portico.adapters.vapi.verifier import VapiHmacPlan, VapiWebhookVerifier
from portico.adapters.webhooks.signers import sign_vapi_hmac, vapi_secret_headers
from portico.domain.errors import InvalidSignature, InvalidValue, MalformedWebhook, StaleTimestamp


SECRET = "vapi-server-secret"
plans = st.builds(
    VapiHmacPlan,
    algorithm=st.sampled_from(["sha256", "sha512", "sha1"]),
    signature_prefix=st.sampled_from(["", "sha256="]),
    signature_encoding=st.sampled_from(["hex", "base64"]),
    payload_format=st.sampled_from(
        ["{timestamp}.{body}", "{body}", "{method}:{url}:{svix-id}:{timestamp}:{body}"]
    ),
    message_id_header=st.sampled_from([None, "x-message-id"]),
)


def hmac_sut(plan: VapiHmacPlan, secret: str = SECRET) -> VapiWebhookVerifier:
    """An HMAC verifier with a frozen clock."""
    return VapiWebhookVerifier(secret, hmac_plan=plan, clock=clock())


@given(secret=secrets)
def test_shared_secret_headers(secret: str) -> None:
    """X-Vapi-Secret carries the secret verbatim; Authorization carries Bearer <secret>."""
    VapiWebhookVerifier(secret).verify(req(vapi_secret_headers(secret)))
    bearer = VapiWebhookVerifier(secret, header="Authorization")
    bearer.verify(req(vapi_secret_headers(secret, header="Authorization")))
    bearer.verify(req({"Authorization": f"bearer  {secret}"}))


def test_shared_secret_refusals() -> None:
    """A wrong, missing or duplicated secret header is refused; the reason hides the secret."""
    sut = VapiWebhookVerifier(SECRET)
    error = rejected(sut.verify, req({"X-Vapi-Secret": "wrong"}))
    assert isinstance(error, InvalidSignature)
    assert SECRET not in str(error)
    assert isinstance(rejected(sut.verify, req({})), InvalidSignature)
    twice = [("X-Vapi-Secret", SECRET), ("X-Vapi-Secret", SECRET)]
    assert isinstance(rejected(sut.verify, req(twice)), MalformedWebhook)
    bare = VapiWebhookVerifier(SECRET, header="Authorization")
    assert isinstance(rejected(bare.verify, req({"Authorization": SECRET})), InvalidSignature)


@given(plan=plans, body=bodies, secret=secrets, offset=offsets)
def test_hmac_round_trip(plan: VapiHmacPlan, body: bytes, secret: str, offset: int) -> None:
    """Every plan shape signs and verifies."""
    headers = sign_vapi_hmac(body, secret, plan, timestamp=NOW + offset, url=URL, message_id="m1")
    hmac_sut(plan, secret).verify(req(headers, body))


@given(plan=plans, body=bodies, index=st.integers(min_value=0))
def test_hmac_changes_rejected(plan: VapiHmacPlan, body: bytes, index: int) -> None:
    """A changed body byte, signature character or timestamp is rejected."""
    headers = sign_vapi_hmac(body, SECRET, plan, timestamp=NOW, url=URL, message_id="m1")
    sut = hmac_sut(plan)
    assert isinstance(rejected(sut.verify, req(headers, flip(body, index))), InvalidSignature)
    value = headers["x-signature"]
    tail = flip_char(value[len(plan.signature_prefix) :], index)
    changed = {**headers, "x-signature": plan.signature_prefix + tail}
    rejected(sut.verify, req(changed, body))
    if "{timestamp}" in plan.payload_format:
        moved = {**headers, "x-timestamp": str(NOW + 1)}
        assert isinstance(rejected(sut.verify, req(moved, body)), InvalidSignature)


def test_hmac_window_units_and_base64_secret() -> None:
    """Timestamps outside the window are stale (seconds or milliseconds); base64 keys work."""
    plan = VapiHmacPlan()
    old = sign_vapi_hmac(b"{}", SECRET, plan, timestamp=NOW - 301)
    assert isinstance(rejected(hmac_sut(plan).verify, req(old)), StaleTimestamp)
    millis = sign_vapi_hmac(b"{}", SECRET, plan, timestamp=NOW * 1000)
    hmac_sut(plan).verify(req(millis))
    ahead = sign_vapi_hmac(b"{}", SECRET, plan, timestamp=(NOW + 400) * 1000)
    assert isinstance(rejected(hmac_sut(plan).verify, req(ahead)), StaleTimestamp)
    b64 = VapiHmacPlan(secret_is_base64=True, timestamp_header=None)
    key = base64.b64encode(b"raw-key-bytes").decode()
    hmac_sut(b64, key).verify(req(sign_vapi_hmac(b"{}", key, b64)))


def test_hmac_bad_configuration_and_headers() -> None:
    """Bad plans fail at construction; a missing prefix or timestamp is refused."""
    with pytest.raises(InvalidValue):
        VapiHmacPlan(payload_format="{timestamp}")
    with pytest.raises(InvalidValue):
        VapiWebhookVerifier("not base64!", hmac_plan=VapiHmacPlan(secret_is_base64=True))
    plan = VapiHmacPlan(signature_prefix="sha256=")
    headers = sign_vapi_hmac(b"{}", SECRET, plan, timestamp=NOW)
    no_prefix = {**headers, "x-signature": headers["x-signature"].removeprefix("sha256=")}
    assert isinstance(rejected(hmac_sut(plan).verify, req(no_prefix)), MalformedWebhook)
    no_ts = {"x-signature": headers["x-signature"]}
    assert isinstance(rejected(hmac_sut(plan).verify, req(no_ts)), InvalidSignature)


def test_url_template_names_url() -> None:
    """With {url} in the template a mismatch names the URL used and public_base_url applies."""
    plan = VapiHmacPlan(payload_format="{url}{body}", timestamp_header=None)
    headers = sign_vapi_hmac(b"{}", SECRET, plan, url="https://api.example.com/vapi")
    internal = "http://127.0.0.1:8000/vapi"
    sut = VapiWebhookVerifier(SECRET, hmac_plan=plan, public_base_url="https://api.example.com")
    sut.verify(req(headers, url=internal))
    error = rejected(hmac_sut(plan).verify, req(headers, url=internal))
    assert "http://127.0.0.1:8000/vapi" in error.reason
