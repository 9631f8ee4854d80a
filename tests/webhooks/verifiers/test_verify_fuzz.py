"""Every verifier: any input either passes or raises a WebhookRejected subclass, nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import NOW, URL, accepts, clock, rejected, req

from portico.adapters.hubspot.verifier import HubSpotWebhookVerifier
from portico.adapters.stripe.verifier import StripeWebhookVerifier
from portico.adapters.twilio.verifier import TwilioWebhookVerifier
from portico.adapters.vapi.verifier import VapiHmacPlan, VapiWebhookVerifier
from portico.adapters.webhooks import signers as signing
from portico.adapters.webhooks.signatures import check_window, describe_url, rebase_url
from portico.adapters.webhooks.standard import StandardWebhookVerifier
from portico.adapters.whatsapp.verifier import Dialog360WebhookVerifier, MetaWebhookVerifier
from portico.domain.errors import MalformedWebhook, StaleTimestamp
from portico.domain.webhooks import WebhookRequest
from portico.ports.webhooks import WebhookVerifier


WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VERIFIERS: dict[str, WebhookVerifier] = {
    "stripe": StripeWebhookVerifier("whsec_x", clock=clock()),
    "hubspot": HubSpotWebhookVerifier("secret", clock=clock()),
    "meta": MetaWebhookVerifier("secret", verify_token="tok"),
    "360dialog": Dialog360WebhookVerifier("secret"),
    "twilio": TwilioWebhookVerifier("secret"),
    "vapi": VapiWebhookVerifier("secret"),
    "vapi-hmac": VapiWebhookVerifier("secret", hmac_plan=VapiHmacPlan(), clock=clock()),
    "standard": StandardWebhookVerifier(WHSEC, clock=clock()),
}
SIGNERS: dict[str, Callable[[bytes], dict[str, str]]] = {
    "stripe": lambda b: signing.sign_stripe(b, "whsec_x", timestamp=NOW),
    "hubspot": lambda b: signing.sign_hubspot_v3(b, "secret", url=URL, timestamp_ms=NOW * 1000),
    "meta": lambda b: signing.sign_meta(b, "secret"),
    "360dialog": lambda b: signing.sign_360dialog(b, "secret"),
    "twilio": lambda b: signing.sign_twilio(URL, [], "secret"),
    "vapi": lambda b: signing.vapi_secret_headers("secret"),
    "vapi-hmac": lambda b: signing.sign_vapi_hmac(b, "secret", timestamp=NOW),
    "standard": lambda b: signing.sign_standard(b, WHSEC, timestamp=NOW),
}
HEADER_NAMES = sorted({name for sign in SIGNERS.values() for name in sign(b"")} | {
    "X-HubSpot-Signature", "X-HubSpot-Signature-Version", "X-Twilio-Webhooks-Signature-Settings",
    "svix-id", "svix-timestamp", "svix-signature", "Authorization"})  # fmt: skip
garbage = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["", " ", "t=", "v1,", "sha256=", "1e9", "-1", "NaN", "\x00", "é", "v1,=="]),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
def test_signed_empty_body_passes(name: str) -> None:
    """Each verifier accepts its own signer's output (the fuzz below starts from there)."""
    body = b"" if name == "twilio" else b"{}"
    VERIFIERS[name].verify(req(SIGNERS[name](body), body))


@pytest.mark.parametrize("name", sorted(VERIFIERS))
@given(
    headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), garbage), max_size=6),
    body=st.binary(max_size=300),
    url=st.one_of(st.just(URL), st.text(max_size=40), st.just("https://h:99999/x?bodySHA256=z")),
    method=st.sampled_from(["POST", "GET", "PUT", "pÖst"]),
    keep=st.booleans(),
)
def test_fuzz_only_webhook_rejected(
    name: str, headers: list[tuple[str, str]], body: bytes, url: str, method: str, keep: bool
) -> None:
    """Garbage headers, bodies, URLs and methods raise only WebhookRejected subclasses."""
    base = list(SIGNERS[name](body).items()) if keep else []
    request = WebhookRequest(method=method, url=url, headers=base + headers, body=body)
    accepts(VERIFIERS[name].verify, request)


@pytest.mark.parametrize("name", sorted(VERIFIERS))
def test_duplicated_signature_headers_refused(name: str) -> None:
    """Sending any signing header twice is refused as malformed, even with the same value."""
    body = b"" if name == "twilio" else b"{}"
    headers = SIGNERS[name](body)
    for header, value in headers.items():
        doubled = [*headers.items(), (header.upper(), value)]
        assert isinstance(rejected(VERIFIERS[name].verify, req(doubled, body)), MalformedWebhook)


@given(body=st.binary(max_size=200))
def test_meta_handshake_fuzz(body: bytes) -> None:
    """The handshake raises only WebhookRejected on arbitrary query strings."""
    query = body.decode("latin-1")
    accepts(lambda r: VERIFIERS["meta"].handshake(r), req({}, b"", url=f"{URL}&{query}"))  # type: ignore[attr-defined]


def test_rebase_and_describe_url() -> None:
    """The public base replaces scheme and host, prefixes its path; descriptions drop secrets."""
    assert rebase_url("http://10.0.0.1:8000/hook?a=1", "https://api.example.com/api/") == (
        "https://api.example.com/api/hook?a=1"
    )
    assert rebase_url("http://x/hook", None) == "http://x/hook"
    assert (
        describe_url("https://user:pw@h.example.com:8443/p?token=s")
        == "https://h.example.com:8443/p"
    )


def test_window_boundaries() -> None:
    """Exactly at the tolerance passes; one second beyond is stale, in both directions."""
    check_window(NOW - 300, now=NOW, tolerance=300, header="t", integration="x")
    check_window(NOW + 300, now=NOW, tolerance=300, header="t", integration="x")
    for signed_at in (NOW - 301, NOW + 301):
        with pytest.raises(StaleTimestamp):
            check_window(signed_at, now=NOW, tolerance=300, header="t", integration="x")
