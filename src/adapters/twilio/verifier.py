"""
Twilio: ``X-Twilio-Signature`` = base64 HMAC-SHA1(auth token, URL + sorted form parameters).

- Form webhooks: the string is the full URL Twilio requested (query included) followed by
  ``name + value`` for every POST parameter, names in code-point order, the values of a repeated
  name sorted and de-duplicated (as twilio-python does).
- JSON webhooks: Twilio appends ``bodySHA256=<hex sha256(raw body)>`` to the URL and signs the
  URL alone; the body must hash to that value.
- Ports: like twilio-python's ``RequestValidator.validate`` the signature may be over the URL
  with or without its port (``:443`` for https, ``:80`` for http, or an explicit one), because
  Twilio's own behaviour changed over time.
- ``X-Twilio-Webhooks-Signature-Settings: key=<sharedKeyId>,algorithm=HMAC_SHA256``: a Webhooks
  Rule signed with a SharedKey; same string, SHA-256 instead of SHA-1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.webhooks import SignatureScheme, WebhookRequest
from ...ports.webhooks import WebhookVerifier
from ..webhooks.signatures import (
    any_match,
    mismatch,
    rebase_url,
    single_header,
    utf8,
)


__all__ = [
    "TwilioWebhookVerifier",
    "twilio_body_hash",
    "twilio_port_variants",
    "twilio_signature",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_INTEGRATION = "twilio"


def twilio_signature(
    token: str, url: str, params: Iterable[tuple[str, str]] = (), algorithm: str = "HMAC_SHA1"
) -> str:
    """The base64 signature Twilio sends for ``url`` and form ``params``."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    tail = "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    message = utf8(url + tail, what="request URL or form parameters", integration=_INTEGRATION)
    digest = hmac.digest(token.encode(), message, ALGORITHMS[algorithm])
    return base64.b64encode(digest).decode()


def twilio_body_hash(body: bytes) -> str:
    """The ``bodySHA256`` query value Twilio adds for JSON bodies: hex SHA-256 of the raw bytes."""
    return hashlib.sha256(body).hexdigest()


def twilio_port_variants(url: str) -> tuple[str, ...]:
    """``url`` without its port and with it (the scheme's default when none is given)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        msg = "request URL has an invalid port"
        raise MalformedWebhook(msg, integration=_INTEGRATION) from None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if port is None:
        default = 443 if parts.scheme == "https" else 80
        without, with_port = hostport, f"{hostport}:{default}"
    else:
        without, with_port = hostport[: hostport.rfind(":")], hostport
    variants = (
        urlunsplit(parts._replace(netloc=f"{userinfo}{at}{without}")),
        urlunsplit(parts._replace(netloc=f"{userinfo}{at}{with_port}")),
    )
    return tuple(dict.fromkeys(variants))


def _shared_keys(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


def _token(value: str) -> str:
    if not value:
        raise InvalidValue("auth_token", "the Twilio Auth Token, non-empty")
    return value


@attrs.frozen
class TwilioWebhookVerifier(WebhookVerifier):
    """
    Verifies Twilio webhooks (form or JSON), SHA-1 or SharedKey SHA-256.

    Args:
        auth_token: the account's Auth Token (primary; pass the secondary as another verifier
            while rotating).
        shared_keys: SharedKey id -> secret, for Webhooks Rules that sign with HMAC-SHA256. When
            empty, a request naming a SharedKey is checked with ``auth_token``.
        public_base_url: scheme and host Twilio calls, when this app sits behind a proxy.
    """

    auth_token: str = attrs.field(converter=_token, repr=False)
    shared_keys: Mapping[str, str] = attrs.field(factory=dict, converter=_shared_keys, repr=False)
    public_base_url: str | None = None

    def scheme(self) -> SignatureScheme:
        """
        URL + sorted parameters, no timestamp signed.

        Confirmed: https://www.twilio.com/docs/usage/webhooks/webhooks-security (HMAC-SHA1).
        """
        keys = (
            f"; SharedKey HMAC-SHA256 for {len(self.shared_keys)} key(s)"
            if self.shared_keys
            else ""
        )
        return SignatureScheme(
            f"{SIGNATURE_HEADER} (base64 HMAC-SHA1 of URL + sorted form parameters, "
            f"JSON by bodySHA256{keys})",
            None,
        )

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        signature = single_header(request, SIGNATURE_HEADER, integration=_INTEGRATION)
        assert signature is not None
        key, algorithm = self._key_and_algorithm(request)
        url = rebase_url(request.url, self.public_base_url)
        params = self._signed_params(request, url)
        expected = [
            twilio_signature(key, variant, params, algorithm).encode()
            for variant in twilio_port_variants(url)
        ]
        if not any_match(expected, [signature.encode()]):
            what = f"{SIGNATURE_HEADER} ({algorithm})"
            raise mismatch(what, integration=_INTEGRATION, url=url)

    def _key_and_algorithm(self, request: WebhookRequest) -> tuple[str, str]:
        settings = single_header(request, SETTINGS_HEADER, integration=_INTEGRATION, required=False)
        if settings is None:
            return self.auth_token, "HMAC_SHA1"
        fields: dict[str, str] = {}
        for part in settings.split(","):
            name, _, value = part.partition("=")
            fields[name.strip()] = value.strip()
        algorithm = fields.get("algorithm") or "HMAC_SHA1"
        if algorithm.upper() not in ALGORITHMS:
            msg = (
                f"{SETTINGS_HEADER} names an unsupported algorithm "
                "(supported: HMAC_SHA1, HMAC_SHA256)"
            )
            raise InvalidSignature(msg, integration=_INTEGRATION)
        key_id = fields.get("key", "")
        if not self.shared_keys:
            return self.auth_token, algorithm.upper()
        if key_id not in self.shared_keys:
            msg = f"{SETTINGS_HEADER} names a SharedKey id that is not configured"
            raise InvalidSignature(msg, integration=_INTEGRATION)
        return self.shared_keys[key_id], algorithm.upper()

    def _signed_params(self, request: WebhookRequest, url: str) -> list[tuple[str, str]]:
        hashes = [v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
                  if k == "bodySHA256"]  # fmt: skip
        if len(hashes) > 1:
            msg = "bodySHA256 appears more than once in the request URL"
            raise MalformedWebhook(msg, integration=_INTEGRATION)
        if hashes:
            expected = twilio_body_hash(request.body).encode()
            if not any_match([expected], [hashes[0].lower().encode("utf-8", "replace")]):
                msg = "the body does not hash to the bodySHA256 value in the URL (body altered?)"
                raise InvalidSignature(msg, integration=_INTEGRATION)
            return []
        try:
            form = request.body.decode("utf-8")
        except UnicodeDecodeError:
            msg = "form body is not UTF-8"
            raise MalformedWebhook(msg, integration=_INTEGRATION) from None
        return parse_qsl(form, keep_blank_values=True)
