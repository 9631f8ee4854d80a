"""MetaWebhookVerifier (X-Hub-Signature-256, GET handshake) and Dialog360WebhookVerifier."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import bodies, flip, flip_char, rejected, req, secrets

from portico.adapters.webhooks.signers import sign_360dialog, sign_meta
from portico.adapters.whatsapp.verifier import Dialog360WebhookVerifier, MetaWebhookVerifier
from portico.domain.errors import InvalidSignature, InvalidValue, MalformedWebhook


SECRET = "meta-app-secret"
HOOK = "https://hooks.example.com/webhooks/whatsapp"


def sut(token: str | None = "meatyhamhock") -> MetaWebhookVerifier:
    """A verifier with a verify token."""
    return MetaWebhookVerifier(SECRET, verify_token=token)


@given(body=bodies, secret=secrets)
def test_round_trip(body: bytes, secret: str) -> None:
    """A body signed with the app secret verifies, for Meta and for 360dialog."""
    MetaWebhookVerifier(secret).verify(req(sign_meta(body, secret), body))
    Dialog360WebhookVerifier(secret).verify(req(sign_360dialog(body, secret), body))


@given(body=bodies, index=st.integers(min_value=0))
def test_one_byte_changed_is_rejected(body: bytes, index: int) -> None:
    """Any changed body byte or signature digit is rejected."""
    headers = sign_meta(body, SECRET)
    assert isinstance(rejected(sut().verify, req(headers, flip(body, index))), InvalidSignature)
    hex_part = headers["X-Hub-Signature-256"].removeprefix("sha256=")
    tampered = {"X-Hub-Signature-256": "sha256=" + flip_char(hex_part, index)}
    assert isinstance(rejected(sut().verify, req(tampered, body)), InvalidSignature)


def test_reserialised_json_does_not_verify() -> None:
    """Meta signs the escaped bytes; unescaped re-serialised JSON fails (raw bytes matter)."""
    raw = b'{"name":"Ren\\u00e9"}'
    headers = sign_meta(raw, SECRET)
    sut().verify(req(headers, raw))
    rejected(sut().verify, req(headers, '{"name":"René"}'.encode()))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("0" * 64, id="no_prefix"),
        pytest.param("sha256=xyz", id="not_hex"),
        pytest.param("sha1=" + "0" * 40, id="sha1"),
        pytest.param("sha256=" + "0" * 63, id="short"),
    ],
)
def test_malformed_signature(value: str) -> None:
    """A header that is not sha256=<64 hex> is malformed."""
    assert isinstance(rejected(sut().verify, req({"X-Hub-Signature-256": value})), MalformedWebhook)


def test_uppercase_hex_and_360dialog_prefix() -> None:
    """Hex is case-insensitive; 360dialog accepts an optional sha256= prefix."""
    headers = sign_meta(b"{}", SECRET)
    sut().verify(req({"X-Hub-Signature-256": headers["X-Hub-Signature-256"].upper()
                      .replace("SHA256=", "sha256=")}))  # fmt: skip
    prefixed = {"x-360dialog-signature": headers["X-Hub-Signature-256"]}
    Dialog360WebhookVerifier(SECRET).verify(req(prefixed))


def test_handshake_echoes_challenge() -> None:
    """The documented GET handshake returns hub.challenge."""
    url = f"{HOOK}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
    assert sut().handshake(req({}, b"", url=url, method="GET")) == "1158201444"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        pytest.param(
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope",
            InvalidSignature,
            id="wrong_token",
        ),
        pytest.param("hub.mode=subscribe&hub.challenge=1", MalformedWebhook, id="no_token"),
        pytest.param(
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock",
            MalformedWebhook,
            id="wrong_mode",
        ),
        pytest.param(
            "hub.mode=subscribe&hub.challenge=%3Cscript%3E&hub.verify_token=meatyhamhock",
            MalformedWebhook,
            id="challenge_not_token",
        ),
        pytest.param(
            "hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=x",
            MalformedWebhook,
            id="repeated",
        ),
    ],
)
def test_handshake_refusals(query: str, error: type[Exception]) -> None:
    """A wrong token is InvalidSignature; missing or odd parameters are MalformedWebhook."""
    assert isinstance(rejected(sut().handshake, req({}, b"", url=f"{HOOK}?{query}")), error)


def test_handshake_without_configured_token() -> None:
    """With no verify token configured every handshake is refused."""
    url = f"{HOOK}?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x"
    assert isinstance(rejected(sut(None).handshake, req({}, b"", url=url)), InvalidSignature)


def test_empty_secret_and_repr() -> None:
    """An empty secret is refused at construction; secrets never appear in the repr."""
    with pytest.raises(InvalidValue):
        MetaWebhookVerifier("")
    assert SECRET not in repr(sut())
    assert "meatyhamhock" not in repr(sut())
