"""TwilioWebhookVerifier: form params, bodySHA256 JSON, port quirks, HMAC-SHA256 SharedKey."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import (
    URL,
    accepts,
    bodies,
    flip_char,
    rejected,
    req,
    secrets,
)
from twilio.request_validator import RequestValidator

from portico.adapters.twilio.verifier import TwilioWebhookVerifier
from portico.adapters.webhooks.signers import sign_twilio, sign_twilio_json
from portico.domain.errors import InvalidSignature, MalformedWebhook


TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
          ("To", "+18005551212"), ("Caller", "+14158675309")]  # fmt: skip
FORM = urlencode(PARAMS).encode()
params_st = st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=16)), max_size=8)


def sut(**kwargs: object) -> TwilioWebhookVerifier:
    """A verifier with the vector's token."""
    return TwilioWebhookVerifier(TOKEN, **kwargs)  # type: ignore[arg-type]


def signed(sig: str, url: str = VECTOR_URL, body: bytes = FORM, **extra: str) -> object:
    """A form POST carrying ``sig``."""
    return req({"X-Twilio-Signature": sig, **extra}, body, url=url)


@pytest.mark.parametrize(
    ("url", "sig"),
    [
        pytest.param(VECTOR_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", id="plain"),
        pytest.param(
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
            id="https_443_signed_with_port",
        ),
        pytest.param(
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            "kvajT1Ptam85bY51eRf/AJRuM3w=",
            id="https_signed_with_443_received_without",
        ),
        pytest.param(
            "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            id="explicit_port_signed_without",
        ),
        pytest.param(
            "http://mycompany.com:80/myapp.php?foo=1&bar=2",
            "0ZXoZLH/DfblKGATFgpif+LLRf4=",
            id="http_80",
        ),
        pytest.param(
            "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            id="http_1234",
        ),
    ],
)
def test_official_vectors_and_port_quirks(url: str, sig: str) -> None:
    """twilio-python's published vectors verify, with the validator's port tolerance."""
    sut().verify(signed(sig, url))  # type: ignore[arg-type]


def test_repeated_keys_vector() -> None:
    """Repeated names: one name+value per value, values sorted (official vector)."""
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    sut().verify(signed("IK+Dwps556ElfBT0I3Rgjkr1wJU=", body=body))  # type: ignore[arg-type]


def test_json_body_sha256_vector() -> None:
    """The bodySHA256 vector: URL-only signature plus the body hash."""
    body = b'{"property": "value", "boolean": true}'
    url, headers = sign_twilio_json(VECTOR_URL, body, TOKEN)
    assert url.endswith("0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")
    assert headers["X-Twilio-Signature"] == "a9nBmqA0ju/hNViExpshrM61xv4="
    sut().verify(req(headers, body, url=url))
    error = rejected(sut().verify, req(headers, body + b" ", url=url))
    assert "bodySHA256" in error.reason


@given(params=params_st, token=secrets, algorithm=st.sampled_from(["HMAC_SHA1", "HMAC_SHA256"]))
def test_round_trip(params: list[tuple[str, str]], token: str, algorithm: str) -> None:
    """Form webhooks signed with either algorithm verify."""
    headers = sign_twilio(URL, params, token, algorithm=algorithm)
    TwilioWebhookVerifier(token).verify(req(headers, urlencode(params).encode()))


@given(params=params_st, index=st.integers(min_value=0))
def test_changes_are_rejected(params: list[tuple[str, str]], index: int) -> None:
    """A changed parameter, signature character or URL is rejected."""
    headers = sign_twilio(URL, params, TOKEN)
    body = urlencode([*params, ("Extra", "1")]).encode()
    assert isinstance(rejected(sut().verify, req(headers, body)), InvalidSignature)
    bad = {"X-Twilio-Signature": flip_char(headers["X-Twilio-Signature"], index)}
    assert not accepts(sut().verify, req(bad, urlencode(params).encode()))
    other_url = URL.replace("tenant=a", "tenant=b")
    assert not accepts(sut().verify, req(headers, urlencode(params).encode(), url=other_url))


def test_shared_key_variant() -> None:
    """X-Twilio-Webhooks-Signature-Settings selects HMAC-SHA256 and the named SharedKey."""
    headers = sign_twilio(URL, [], "shared-secret", algorithm="HMAC_SHA256", shared_key_id="sk1")
    TwilioWebhookVerifier(TOKEN, shared_keys={"sk1": "shared-secret"}).verify(req(headers, b""))
    unknown = TwilioWebhookVerifier(TOKEN, shared_keys={"sk2": "shared-secret"})
    assert isinstance(rejected(unknown.verify, req(headers, b"")), InvalidSignature)
    md5 = {**headers, "X-Twilio-Webhooks-Signature-Settings": "key=sk1,algorithm=HMAC_MD5"}
    assert isinstance(rejected(sut().verify, req(md5, b"")), InvalidSignature)


def test_public_base_url_and_reason() -> None:
    """The public URL is signed behind a proxy; a mismatch names the URL used, not the query."""
    headers = sign_twilio("https://api.example.com/twilio?secret=1", PARAMS, TOKEN)
    internal = "http://127.0.0.1:9000/twilio?secret=1"
    sut(public_base_url="https://api.example.com").verify(req(headers, FORM, url=internal))
    error = rejected(sut().verify, req(headers, FORM, url=internal))
    assert "http://127.0.0.1:9000/twilio" in error.reason
    assert "secret=1" not in error.reason


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        pytest.param(req({}, FORM), InvalidSignature, id="missing"),
        pytest.param(
            req([("X-Twilio-Signature", "a"), ("X-Twilio-Signature", "a")], FORM),
            MalformedWebhook,
            id="duplicated",
        ),
        pytest.param(
            req({"X-Twilio-Signature": "abc"}, b"\xff\xfe"), MalformedWebhook, id="not_utf8"
        ),
        pytest.param(
            req({"X-Twilio-Signature": "abc"}, FORM, url="https://h:99999/x"),
            MalformedWebhook,
            id="bad_port",
        ),
        pytest.param(
            req({"X-Twilio-Signature": "a"}, b"{}", url=URL + "&bodySHA256=1&bodySHA256=2"),
            MalformedWebhook,
            id="two_body_hashes",
        ),
    ],
)
def test_bad_input(request_: object, error: type[Exception]) -> None:
    """Bad deliveries are rejected with the matching error."""
    assert isinstance(rejected(sut().verify, request_), error)  # type: ignore[arg-type]


@given(
    params=st.lists(st.tuples(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                                      min_size=1, max_size=8),
                              st.text(max_size=16)), max_size=6),
    port=st.sampled_from(["", ":443", ":8443"]),
    signed_port=st.sampled_from(["", ":443", ":8443"]),
    tamper=st.booleans(),
)  # fmt: skip
def test_agrees_with_official_sdk(
    params: list[tuple[str, str]], port: str, signed_port: str, tamper: bool
) -> None:
    """Ours accepts exactly what RequestValidator.validate accepts, ports included."""
    signed_url = f"https://api.example.com{signed_port}/hook?x=1"
    received = f"https://api.example.com{port}/hook?x=1"
    sig = sign_twilio(signed_url, params, TOKEN)["X-Twilio-Signature"]
    body_params = [*params, ("Tamper", "1")] if tamper else params
    grouped: dict[str, list[str]] = {}
    for name, value in body_params:
        grouped.setdefault(name, []).append(value)

    class Multi(dict[str, list[str]]):
        def getall(self, name: str) -> list[str]:
            return self[name]

    theirs = RequestValidator(TOKEN).validate(received, Multi(grouped), sig)
    ours = accepts(
        sut().verify,
        req({"X-Twilio-Signature": sig}, urlencode(body_params).encode(), url=received),
    )
    assert ours == theirs


@given(body=bodies)
def test_json_agrees_with_official_sdk(body: bytes) -> None:
    """For JSON bodies (UTF-8) both accept the signed body and reject a changed one."""
    text = body.decode("utf-8", "replace").encode()
    url, headers = sign_twilio_json(URL, text, TOKEN)
    sig = headers["X-Twilio-Signature"]
    for candidate in (text, text + b"!"):
        theirs = RequestValidator(TOKEN).validate(url, candidate.decode(), sig)
        assert accepts(sut().verify, req(headers, candidate, url=url)) == theirs
