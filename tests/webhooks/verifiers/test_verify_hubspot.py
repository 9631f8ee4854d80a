"""HubSpotWebhookVerifier: v3 (ms timestamp, URI decoding, window) and legacy v1/v2."""

from __future__ import annotations

import time

import pytest
from hubspot.exceptions import InvalidSignatureTimestampError
from hubspot.utils.signature import Signature
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import (
    NOW,
    URL,
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

from portico.adapters.hubspot.verifier import HubSpotWebhookVerifier, hubspot_v3_uri
from portico.adapters.webhooks.signers import sign_hubspot_v1, sign_hubspot_v2, sign_hubspot_v3
from portico.domain.errors import InvalidSignature, MalformedWebhook, StaleTimestamp


SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


def sut(secret: str = SECRET, **kwargs: object) -> HubSpotWebhookVerifier:
    """A verifier with a frozen clock."""
    return HubSpotWebhookVerifier(secret, clock=clock(), **kwargs)  # type: ignore[arg-type]


def v3(
    body: bytes = b"{}", *, url: str = URL, offset: float = 0, secret: str = SECRET
) -> dict[str, str]:
    """v3 headers signed at NOW + offset seconds."""
    return sign_hubspot_v3(body, secret, url=url, timestamp_ms=int((NOW + offset) * 1000))


def test_documented_v1_vector() -> None:
    """HubSpot's published v1 example verifies."""
    signature = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": "v1"}
    sut().verify(req(headers, V1_BODY))
    assert sign_hubspot_v1(V1_BODY, SECRET) == headers


def test_documented_v2_vector() -> None:
    """HubSpot's published v2 GET example verifies."""
    signature = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    headers = {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": "v2"}
    sut().verify(req(headers, b"", url="https://www.example.com/webhook_uri", method="GET"))


@given(body=bodies, secret=secrets, offset=offsets, method=st.sampled_from(["POST", "GET", "PUT"]))
def test_v3_round_trip(body: bytes, secret: str, offset: int, method: str) -> None:
    """A v3 delivery signed within the window is accepted."""
    headers = sign_hubspot_v3(body, secret, url=URL, method=method,
                              timestamp_ms=(NOW + offset) * 1000)  # fmt: skip
    sut(secret).verify(req(headers, body, method=method))


@given(body=bodies, index=st.integers(min_value=0))
def test_v3_one_byte_changed_is_rejected(body: bytes, index: int) -> None:
    """Changing a byte of the body, the signature, the timestamp or the URL is rejected."""
    headers = v3(body)
    verify = sut().verify
    assert isinstance(rejected(verify, req(headers, flip(body, index))), InvalidSignature)
    bad_sig = dict(
        headers, **{"X-HubSpot-Signature-v3": flip_char(headers["X-HubSpot-Signature-v3"], index)}
    )
    assert isinstance(rejected(verify, req(bad_sig, body)), InvalidSignature)
    ts = headers["X-HubSpot-Request-Timestamp"]
    bad_ts = dict(headers, **{"X-HubSpot-Request-Timestamp": str(int(ts) + 1)})
    assert isinstance(rejected(verify, req(bad_ts, body)), InvalidSignature)
    assert isinstance(rejected(verify, req(headers, body, url=URL + "b")), InvalidSignature)


@pytest.mark.parametrize("offset", [pytest.param(-301, id="old"), pytest.param(301, id="ahead")])
def test_v3_window_both_directions(offset: int) -> None:
    """A valid v3 signature outside the window is stale."""
    assert isinstance(rejected(sut().verify, req(v3(offset=offset))), StaleTimestamp)


def test_v3_timestamp_in_seconds_is_stale() -> None:
    """A seconds timestamp (HubSpot sends milliseconds) is read as 1970 and refused."""
    headers = sign_hubspot_v3(b"{}", SECRET, url=URL, timestamp_ms=NOW)
    assert isinstance(rejected(sut().verify, req(headers)), StaleTimestamp)


def test_v3_uri_decoding_table() -> None:
    """The escapes of HubSpot's table are decoded (any case); others are kept."""
    assert hubspot_v3_uri("https://h/p%3a%2F?q=%40x%20y%2a") == "https://h/p:/?q=@x%20y*"
    url = "https://h.example.com/hook?email=a%40b.com&t=%28x%29"
    headers = sign_hubspot_v3(b"{}", SECRET, url=url.replace("%40", "@").replace("%28", "(")
                              .replace("%29", ")"), timestamp_ms=NOW * 1000)  # fmt: skip
    sut().verify(req(headers, url=url))


def test_public_base_url_and_reason() -> None:
    """Behind a proxy the configured public URL is signed; the reason names the URL used."""
    public = "https://api.example.com/webhooks/hubspot?x=1"
    headers = v3(url=public)
    internal = "http://10.0.0.5:8000/webhooks/hubspot?x=1"
    sut(public_base_url="https://api.example.com").verify(req(headers, url=internal))
    error = rejected(sut().verify, req(headers, url=internal))
    assert "http://10.0.0.5:8000/webhooks/hubspot" in error.reason
    assert "public_base_url" in error.reason
    assert "x=1" not in error.reason


def test_v3_preferred_and_legacy_optional() -> None:
    """With v3 present the legacy header is ignored; allow_legacy=False refuses v1/v2 alone."""
    headers = {**v3(V1_BODY), "X-HubSpot-Signature": "0" * 64, "X-HubSpot-Signature-Version": "v1"}
    sut().verify(req(headers, V1_BODY))
    legacy = sign_hubspot_v1(V1_BODY, SECRET)
    assert isinstance(
        rejected(sut(allow_legacy=False).verify, req(legacy, V1_BODY)), InvalidSignature
    )


@given(body=bodies, secret=secrets)
def test_legacy_round_trips(body: bytes, secret: str) -> None:
    """v1 and v2 signatures made by the helpers verify, and not over another body."""
    sut(secret).verify(req(sign_hubspot_v1(body, secret), body))
    sut(secret).verify(req(sign_hubspot_v2(body, secret, url=URL), body))
    assert not accepts(sut(secret).verify, req(sign_hubspot_v2(body, secret, url=URL), body + b"x"))


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        pytest.param({}, InvalidSignature, id="nothing"),
        pytest.param({"X-HubSpot-Signature-v3": "abc"}, InvalidSignature, id="v3_no_timestamp"),
        pytest.param(
            {"X-HubSpot-Signature-v3": "abc", "X-HubSpot-Request-Timestamp": "1e12"},
            MalformedWebhook,
            id="timestamp_not_digits",
        ),
        pytest.param({"X-HubSpot-Signature": "00"}, MalformedWebhook, id="legacy_no_version"),
        pytest.param(
            {"X-HubSpot-Signature": "00", "X-HubSpot-Signature-Version": "v9"},
            MalformedWebhook,
            id="unknown_version",
        ),
        pytest.param({"X-HubSpot-Signature-v3": "\x00"}, MalformedWebhook, id="control_char"),
    ],
)
def test_bad_headers(headers: dict[str, str], error: type[Exception]) -> None:
    """Missing or garbage headers are rejected with the matching error."""
    assert isinstance(rejected(sut().verify, req(headers)), error)


@given(
    body=st.text(max_size=300),
    secret=secrets,
    age=st.one_of(st.integers(-280, 280), st.integers(320, 100_000)),
    tamper=st.sampled_from(["none", "body", "secret", "url"]),
)
def test_v3_agrees_with_official_sdk(body: str, secret: str, age: int, tamper: str) -> None:
    """Ours accepts exactly what hubspot Signature.is_valid(v3) accepts (past timestamps)."""
    now_ms = int(time.time() * 1000) - age * 1000
    raw = body.encode()
    headers = sign_hubspot_v3(raw, secret, url=URL, timestamp_ms=now_ms)
    url = URL + "x" if tamper == "url" else URL
    raw = raw + b" " if tamper == "body" else raw
    key = secret + "x" if tamper == "secret" else secret
    try:
        theirs = Signature.is_valid(
            signature=headers["X-HubSpot-Signature-v3"], client_secret=key,
            request_body=raw.decode(), http_uri=url, http_method="POST",
            signature_version="v3", timestamp=headers["X-HubSpot-Request-Timestamp"],
        )  # fmt: skip
    except InvalidSignatureTimestampError:
        theirs = False
    assert accepts(HubSpotWebhookVerifier(key).verify, req(headers, raw, url=url)) == theirs
