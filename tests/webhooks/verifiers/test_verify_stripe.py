"""StripeWebhookVerifier: Stripe-Signature t/v1, secret rotation, window both ways."""

from __future__ import annotations

import time

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import (
    NOW,
    accepts,
    bodies,
    clock,
    flip,
    flip_char,
    offsets,
    rejected,
    req,
    secrets,
)

from portico.adapters.stripe.verifier import StripeWebhookVerifier
from portico.adapters.webhooks.signers import sign_stripe
from portico.domain.errors import InvalidSignature, InvalidValue, MalformedWebhook, StaleTimestamp


SECRET = "whsec_test_secret"


def sut(*secrets_: str, tolerance: float = 300) -> StripeWebhookVerifier:
    """A verifier with a frozen clock."""
    return StripeWebhookVerifier(secrets_ or (SECRET,), tolerance=tolerance, clock=clock())


@given(body=bodies, secret=secrets, offset=offsets)
def test_round_trip(body: bytes, secret: str, offset: int) -> None:
    """A delivery signed within the window is accepted."""
    sut(secret).verify(req(sign_stripe(body, secret, timestamp=NOW + offset), body))


@given(body=bodies, index=st.integers(min_value=0))
def test_one_byte_of_body_changed_is_rejected(body: bytes, index: int) -> None:
    """Changing any byte of the body breaks the signature."""
    headers = sign_stripe(body, SECRET, timestamp=NOW)
    assert isinstance(rejected(sut().verify, req(headers, flip(body, index))), InvalidSignature)


@given(index=st.integers(min_value=0, max_value=63))
def test_one_character_of_signature_changed_is_rejected(index: int) -> None:
    """Changing any character of the v1 hex breaks the signature."""
    header = sign_stripe(b"{}", SECRET, timestamp=NOW)["Stripe-Signature"]
    head, sig = header.split(",v1=")
    tampered = f"{head},v1={flip_char(sig, index)}"
    assert isinstance(rejected(sut().verify, req({"Stripe-Signature": tampered})), InvalidSignature)


def test_timestamp_changed_is_rejected() -> None:
    """The timestamp is signed: moving it by one second breaks the signature."""
    header = sign_stripe(b"{}", SECRET, timestamp=NOW)["Stripe-Signature"]
    moved = header.replace(f"t={NOW}", f"t={NOW - 1}")
    assert isinstance(rejected(sut().verify, req({"Stripe-Signature": moved})), InvalidSignature)


@pytest.mark.parametrize(
    ("offset", "word"),
    [pytest.param(-301, "old", id="too_old"), pytest.param(301, "future", id="too_far_ahead")],
)
def test_window_both_directions(offset: int, word: str) -> None:
    """A valid signature outside the tolerance is stale, in either direction."""
    error = rejected(sut().verify, req(sign_stripe(b"{}", SECRET, timestamp=NOW + offset)))
    assert isinstance(error, StaleTimestamp)
    assert word in error.reason


def test_several_v1_and_several_secrets() -> None:
    """During a roll any v1 matching any configured secret passes; v0 is ignored."""
    headers = sign_stripe(b"{}", ["whsec_old", "whsec_new"], timestamp=NOW)
    headers["Stripe-Signature"] += ",v0=deadbeef"
    sut("whsec_new").verify(req(headers))
    sut("whsec_other", "whsec_old").verify(req(headers))
    assert isinstance(rejected(sut("whsec_other").verify, req(headers)), InvalidSignature)


def test_secret_is_used_as_text_with_prefix() -> None:
    """The key is the whsec_ string itself, not a base64-decoded key."""
    headers = sign_stripe(b"{}", "whsec_abc", timestamp=NOW)
    assert isinstance(rejected(sut("abc").verify, req(headers)), InvalidSignature)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        pytest.param(f"v1={'0' * 64}", MalformedWebhook, id="no_t"),
        pytest.param(f"t={NOW},t={NOW},v1={'0' * 64}", MalformedWebhook, id="two_t"),
        pytest.param(f"t=abc,v1={'0' * 64}", MalformedWebhook, id="t_not_number"),
        pytest.param(f"t=-{NOW},v1={'0' * 64}", MalformedWebhook, id="t_negative"),
        pytest.param(f"t={NOW}", InvalidSignature, id="no_v1"),
        pytest.param(f"t={NOW},garbage", MalformedWebhook, id="entry_without_equals"),
        pytest.param("t=1,v1=é", MalformedWebhook, id="non_ascii"),
        pytest.param("", InvalidSignature, id="empty"),
    ],
)
def test_bad_headers(header: str, error: type[Exception]) -> None:
    """Garbage Stripe-Signature values are rejected with the matching error, never crash."""
    assert isinstance(rejected(sut().verify, req({"Stripe-Signature": header})), error)


def test_missing_and_duplicated_header() -> None:
    """No header is InvalidSignature; two headers are refused as malformed."""
    assert isinstance(rejected(sut().verify, req({})), InvalidSignature)
    header = sign_stripe(b"{}", SECRET, timestamp=NOW)["Stripe-Signature"]
    twice = [("Stripe-Signature", header), ("stripe-signature", header)]
    error = rejected(sut().verify, req(twice))
    assert isinstance(error, MalformedWebhook)
    assert "2 times" in error.reason


def test_reason_has_no_secret() -> None:
    """Rejections never contain the secret or the expected signature."""
    headers = sign_stripe(b"{}", SECRET, timestamp=NOW)
    error = rejected(sut().verify, req(headers, b"{ }"))
    expected = sign_stripe(b"{ }", SECRET, timestamp=NOW)["Stripe-Signature"].split("v1=")[1]
    assert SECRET not in str(error)
    assert expected not in str(error)
    assert SECRET not in repr(sut())


def test_empty_secret_refused() -> None:
    """A verifier without a secret cannot be built."""
    with pytest.raises(InvalidValue):
        StripeWebhookVerifier([])
    with pytest.raises(InvalidValue):
        StripeWebhookVerifier("")


@given(
    body=st.text(max_size=300),
    secret=secrets,
    age=st.one_of(st.integers(-280, 280), st.integers(320, 100_000)),
    tamper=st.sampled_from(["none", "body", "secret", "timestamp"]),
)
def test_agrees_with_official_sdk(body: str, secret: str, age: int, tamper: str) -> None:
    """Ours accepts exactly what stripe.WebhookSignature.verify_header(tolerance=300) accepts."""
    now = int(time.time())
    raw = body.encode()
    header = sign_stripe(raw, secret, timestamp=now - age)["Stripe-Signature"]
    if tamper == "body":
        raw += b" "
    elif tamper == "secret":
        header = sign_stripe(raw, secret + "x", timestamp=now - age)["Stripe-Signature"]
    elif tamper == "timestamp":
        header = header.replace(f"t={now - age}", f"t={now - age + 1}")
    try:
        theirs = stripe.WebhookSignature.verify_header(raw, header, secret, 300)
    except stripe.SignatureVerificationError:
        theirs = False
    ours = StripeWebhookVerifier(secret).verify
    assert accepts(ours, req({"Stripe-Signature": header}, raw)) == theirs


def test_sdk_generated_header_is_accepted() -> None:
    """A header made by the SDK's own generate_signature_header verifies."""
    header = stripe.WebhookSignature.generate_signature_header('{"id":"evt_1"}', SECRET, NOW)
    sut().verify(req({"Stripe-Signature": header}, b'{"id":"evt_1"}'))
