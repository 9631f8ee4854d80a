"""
HubSpot request signatures v3, and the legacy v1 / v2 that still accompany them.

- v3: ``X-HubSpot-Signature-v3`` = base64 HMAC-SHA256 (key: the app's client secret) over
  ``method + uri + body + timestamp``; ``X-HubSpot-Request-Timestamp`` is epoch *milliseconds*
  and is checked against the window in both directions. In ``uri`` the percent-escapes of
  HubSpot's table (`V3_URI_DECODING`) are decoded first, case-insensitively; the official Python
  SDK leaves this to the caller.
- v1 / v2 (``X-HubSpot-Signature`` + ``X-HubSpot-Signature-Version``): plain SHA-256 hex of
  ``secret + body`` / ``secret + method + uri + body``. They carry no timestamp, so a captured
  v1/v2 delivery verifies forever; set ``allow_legacy=False`` to accept v3 only (replay
  protection then rests on the window *and* the replay store).

When both are present v3 is checked and the legacy header ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import SignatureScheme, WebhookRequest
from ...ports.webhooks import WebhookVerifier
from ..webhooks.signatures import (
    any_match,
    check_window,
    mismatch,
    parse_timestamp,
    rebase_url,
    single_header,
    utf8,
)


__all__ = [
    "V3_URI_DECODING",
    "HubSpotWebhookVerifier",
    "hubspot_legacy_signature",
    "hubspot_v3_signature",
    "hubspot_v3_uri",
]

V3_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
LEGACY_HEADER = "X-HubSpot-Signature"
VERSION_HEADER = "X-HubSpot-Signature-Version"
_INTEGRATION = "hubspot"

V3_URI_DECODING: dict[str, str] = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
"""HubSpot's v3 table: these escapes are decoded in the URI before hashing; others stay."""

_ESCAPE = re.compile("|".join(V3_URI_DECODING), re.IGNORECASE)


def hubspot_v3_uri(url: str) -> str:
    """``url`` with the escapes of `V3_URI_DECODING` decoded, as HubSpot signs it."""
    return _ESCAPE.sub(lambda m: V3_URI_DECODING[m.group(0).upper()], url)


def hubspot_v3_signature(secret: str, method: str, url: str, body: bytes, timestamp_ms: str) -> str:
    """Base64 HMAC-SHA256 of ``method + decoded uri + body + timestamp``."""
    uri = utf8(hubspot_v3_uri(url), what="request URL", integration=_INTEGRATION)
    message = method.encode() + uri + body + timestamp_ms.encode()
    return base64.b64encode(hmac.digest(secret.encode(), message, "sha256")).decode()


def hubspot_legacy_signature(secret: str, version: str, method: str, url: str, body: bytes) -> str:
    """Hex SHA-256 of ``secret + body`` (v1) or ``secret + method + uri + body`` (v2)."""
    if version == "v1":
        source = secret.encode() + body
    else:
        uri = utf8(url, what="request URL", integration=_INTEGRATION)
        source = secret.encode() + method.encode() + uri + body
    return hashlib.sha256(source).hexdigest()


def _secret(value: str) -> str:
    if not value:
        raise InvalidValue("client_secret", "the HubSpot app's client secret, non-empty")
    return value


@attrs.frozen
class HubSpotWebhookVerifier(WebhookVerifier):
    """
    Verifies HubSpot webhook and workflow-action requests.

    Args:
        client_secret: the app's client secret.
        tolerance: seconds the v3 timestamp may be old or ahead of the clock.
        clock: the time source; `Clock.now` is compared with the signed timestamp.
        public_base_url: scheme and host HubSpot calls (``https://api.example.com``) when this
            app sits behind a proxy; v2 and v3 sign the full URL.
        allow_legacy: accept v1/v2 signatures (no timestamp) when no v3 header is present.
    """

    client_secret: str = attrs.field(converter=_secret, repr=False)
    tolerance: float = 300.0
    clock: Clock = SYSTEM_CLOCK
    public_base_url: str | None = None
    allow_legacy: bool = True

    def scheme(self) -> SignatureScheme:
        """
        v3 within `tolerance`; v1/v2 too unless ``allow_legacy`` is off (no timestamp in them).

        Confirmed: https://developers.hubspot.com/docs/api/webhooks/validating-requests.
        """
        legacy = cost = None
        if self.allow_legacy:
            legacy = "v1/v2 (X-HubSpot-Signature, SHA-256 of secret + body)"
            cost = (
                "no timestamp: a captured v1/v2 delivery verifies forever; only the replay store "
                "refuses it again, for its retention; set webhooks.hubspot.allow_legacy: false "
                "when every sender signs v3"
            )
        return SignatureScheme(
            f"{V3_HEADER} (base64 HMAC-SHA256 of method + URI + body + timestamp)",
            self.tolerance,
            legacy=legacy,
            legacy_cost=cost,
        )

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        url = rebase_url(request.url, self.public_base_url)
        signature = single_header(request, V3_HEADER, integration=_INTEGRATION, required=False)
        if signature is not None:
            self._verify_v3(request, url, signature)
            return
        if not self.allow_legacy:
            msg = f"missing {V3_HEADER} header (legacy v1/v2 signatures are not accepted)"
            raise InvalidSignature(msg, integration=_INTEGRATION)
        self._verify_legacy(request, url)

    def _verify_v3(self, request: WebhookRequest, url: str, signature: str) -> None:
        raw_ts = single_header(request, TIMESTAMP_HEADER, integration=_INTEGRATION)
        assert raw_ts is not None
        timestamp_ms = parse_timestamp(raw_ts, header=TIMESTAMP_HEADER, integration=_INTEGRATION)
        expected = hubspot_v3_signature(
            self.client_secret, request.method, url, request.body, raw_ts
        )
        if not any_match([expected.encode()], [signature.encode()]):
            raise mismatch(f"{V3_HEADER} (base64 HMAC-SHA256)", integration=_INTEGRATION, url=url)
        check_window(
            timestamp_ms / 1000,
            now=self.clock.now().timestamp(),
            tolerance=self.tolerance,
            header=f"{TIMESTAMP_HEADER} (milliseconds)",
            integration=_INTEGRATION,
        )

    def _verify_legacy(self, request: WebhookRequest, url: str) -> None:
        signature = single_header(request, LEGACY_HEADER, integration=_INTEGRATION)
        version = single_header(request, VERSION_HEADER, integration=_INTEGRATION, required=False)
        assert signature is not None
        if version not in ("v1", "v2"):
            msg = f"{VERSION_HEADER} must be v1 or v2 when {V3_HEADER} is absent"
            raise MalformedWebhook(msg, integration=_INTEGRATION)
        expected = hubspot_legacy_signature(
            self.client_secret, version, request.method, url, request.body
        )
        if not any_match([expected.encode()], [signature.lower().encode()]):
            what = f"{LEGACY_HEADER} ({version}, hex SHA-256)"
            raise mismatch(what, integration=_INTEGRATION, url=url if version == "v2" else None)
