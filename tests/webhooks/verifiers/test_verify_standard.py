"""StandardWebhookVerifier: webhook-*/svix-* headers, whsec_ secrets, v1 lists, window."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tests.webhooks.verifiers._vsupport import (
    NOW,
    accepts,
    bodies,
    clock,
    flip,
    offsets,
    rejected,
    req,
)

from portico.adapters.webhooks.signers import sign_standard
from portico.adapters.webhooks.standard import StandardWebhookVerifier
from portico.domain.errors import InvalidSignature, InvalidValue, MalformedWebhook, StaleTimestamp


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
keys = st.binary(min_size=24, max_size=64).map(lambda k: "whsec_" + base64.b64encode(k).decode())


def sut(secret: str = SECRET, now: float = NOW) -> StandardWebhookVerifier:
    """A verifier with a frozen clock."""
    return StandardWebhookVerifier(secret, clock=clock(now))


def test_official_vector() -> None:
    """The standardwebhooks test vector verifies, and our signer reproduces it."""
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}  # fmt: skip
    body = b'{"test": 2432232314}'
    sut(now=1614265330).verify(req(headers, body))
    assert (
        sign_standard(body, SECRET, msg_id=headers["webhook-id"], timestamp=1614265330) == headers
    )


@given(body=bodies, secret=keys, offset=offsets, prefix=st.sampled_from(["webhook", "svix"]))
def test_round_trip(body: bytes, secret: str, offset: int, prefix: str) -> None:
    """Signed deliveries verify under webhook-* and svix-* names."""
    headers = sign_standard(body, secret, timestamp=NOW + offset, prefix=prefix)
    sut(secret).verify(req(headers, body))


@given(body=bodies, index=st.integers(min_value=0))
def test_one_byte_changed_is_rejected(body: bytes, index: int) -> None:
    """Changing the body, the id, the timestamp or the signature is rejected."""
    headers = sign_standard(body, SECRET, timestamp=NOW)
    verify = sut().verify
    assert isinstance(rejected(verify, req(headers, flip(body, index))), InvalidSignature)
    assert isinstance(
        rejected(verify, req({**headers, "webhook-id": "msg_x"}, body)), InvalidSignature
    )
    moved = {**headers, "webhook-timestamp": str(NOW + 1)}
    assert isinstance(rejected(verify, req(moved, body)), InvalidSignature)
    raw = bytearray(base64.b64decode(headers["webhook-signature"][3:]))
    raw[index % len(raw)] ^= 1
    bad = {**headers, "webhook-signature": "v1," + base64.b64encode(bytes(raw)).decode()}
    assert isinstance(rejected(verify, req(bad, body)), InvalidSignature)


def test_list_with_rotation_and_other_versions() -> None:
    """Any v1 in the space-separated list may match; v1a entries are ignored."""
    headers = sign_standard(b"{}", SECRET, timestamp=NOW)
    other = sign_standard(b"{}", "whsec_" + base64.b64encode(b"k" * 32).decode(), timestamp=NOW)
    headers["webhook-signature"] = (f"v1a,AAAA {other['webhook-signature']} "
                                    f"{headers['webhook-signature']}")  # fmt: skip
    sut().verify(req(headers))


@pytest.mark.parametrize("offset", [pytest.param(-301, id="old"), pytest.param(301, id="new")])
def test_window(offset: int) -> None:
    """Valid signatures outside ±tolerance are stale."""
    assert isinstance(
        rejected(sut().verify, req(sign_standard(b"{}", SECRET, timestamp=NOW + offset))),
        StaleTimestamp,
    )


@pytest.mark.parametrize(
    ("signature", "error"),
    [
        pytest.param("garbage", MalformedWebhook, id="no_comma"),
        pytest.param("v1,abc", MalformedWebhook, id="bad_padding"),
        pytest.param("v1,@@@@", MalformedWebhook, id="not_base64"),
        pytest.param("v2,AAAA", InvalidSignature, id="no_v1"),
    ],
)
def test_malformed_entries(signature: str, error: type[Exception]) -> None:
    """Entries the SDK crashes on (ValueError, binascii.Error) are WebhookRejected here."""
    headers = {**sign_standard(b"{}", SECRET, timestamp=NOW), "webhook-signature": signature}
    assert isinstance(rejected(sut().verify, req(headers)), error)


def test_missing_headers_and_bad_secret() -> None:
    """Missing headers are rejected; a secret that is not base64 is refused at construction."""
    assert isinstance(rejected(sut().verify, req({})), InvalidSignature)
    fractional = {"webhook-id": "m", "webhook-timestamp": "1.5", "webhook-signature": "v1,AAAA"}
    assert isinstance(rejected(sut().verify, req(fractional)), MalformedWebhook)
    with pytest.raises(InvalidValue):
        StandardWebhookVerifier("whsec_not*base64")


@given(
    body=st.text(max_size=300),
    secret=keys,
    age=st.one_of(st.integers(-280, 280), st.integers(320, 10_000), st.integers(-10_000, -320)),
    tamper=st.sampled_from(["none", "body", "id", "secret"]),
)
def test_agrees_with_official_sdk(body: str, secret: str, age: int, tamper: str) -> None:
    """Ours accepts exactly what standardwebhooks.Webhook.verify accepts (both bound ±5 min)."""
    now = int(time.time()) - age
    raw = body.encode()
    headers = sign_standard(raw, secret, timestamp=now)
    if tamper == "body":
        raw += b" "
    elif tamper == "id":
        headers["webhook-id"] += "x"
    key = (
        "whsec_" + base64.b64encode(b"other-key-24-bytes-long!").decode()
        if tamper == "secret"
        else secret
    )
    try:
        Webhook(key).verify(raw, headers, json_parse=False)
        theirs = True
    except WebhookVerificationError:
        theirs = False
    assert accepts(StandardWebhookVerifier(key).verify, req(headers, raw)) == theirs


def test_sdk_signature_is_accepted() -> None:
    """A signature made by the SDK's sign() verifies with ours."""
    sig = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(NOW, UTC), "{}")
    sut().verify(
        req({"webhook-id": "msg_1", "webhook-timestamp": str(NOW), "webhook-signature": sig})
    )
