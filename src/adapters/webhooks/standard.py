"""
Standard Webhooks (and Svix): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The MAC is HMAC-SHA256 over ``b"<id>.<timestamp>." + raw body`` keyed with the *base64-decoded*
secret (``whsec_<base64>``); ``webhook-signature`` is a space-separated list of
``<version>,<base64>`` entries (several during a secret rotation), of which any ``v1`` may match;
other versions (``v1a`` asymmetric) are ignored. Svix sends the same headers named ``svix-*``;
when a ``webhook-id`` header is present the ``webhook-*`` set is used, else the ``svix-*`` set.

Unlike the ``standardwebhooks`` package, a malformed entry (no comma, bad base64) is a
`MalformedWebhook`, never a ``ValueError`` or ``binascii.Error``.
"""

from __future__ import annotations

import hmac

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import SignatureScheme, WebhookRequest
from ...ports.webhooks import WebhookVerifier
from .signatures import (
    any_match,
    b64decode_strict,
    check_window,
    mismatch,
    parse_timestamp,
    single_header,
    utf8,
)


__all__ = ["StandardWebhookVerifier", "decode_secret", "standard_signature"]

_PREFIX = "whsec_"


def decode_secret(secret: str | bytes) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional; bytes are the key)."""
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret.removeprefix(_PREFIX)
        decoded = b64decode_strict(text + "=" * (-len(text) % 4)) if text.isascii() else None
        if decoded is None:
            raise InvalidValue("secret", "must be whsec_ followed by base64")
        key = decoded
    if not key:
        raise InvalidValue("secret", "must not be empty")
    return key


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """The raw HMAC-SHA256 digest of ``id.timestamp.body`` (base64 it for the header)."""
    head = utf8(f"{msg_id}.{timestamp}.", what="webhook-id", integration="standard-webhooks")
    return hmac.digest(key, head + body, "sha256")


def _signatures(value: str, header: str, integration: str) -> list[bytes]:
    found: list[bytes] = []
    for entry in value.split(" "):
        if not entry:
            continue
        version, comma, encoded = entry.partition(",")
        if not comma:
            msg = f"{header} entries must be <version>,<base64> separated by spaces"
            raise MalformedWebhook(msg, integration=integration)
        if version != "v1":
            continue
        raw = b64decode_strict(encoded)
        if raw is None:
            msg = f"{header} has a v1 entry that is not valid base64"
            raise MalformedWebhook(msg, integration=integration)
        found.append(raw)
    if not found:
        msg = f"{header} has no v1 signature"
        raise InvalidSignature(msg, integration=integration)
    return found


@attrs.frozen
class StandardWebhookVerifier(WebhookVerifier):
    """
    Verifies Standard Webhooks / Svix deliveries, for any provider that uses them.

    Args:
        secret: ``whsec_<base64>`` (or the raw key as bytes).
        tolerance: seconds the timestamp may be old or ahead of the clock.
        clock: the time source; `Clock.now` is compared with the signed timestamp.
        integration: the provider's name, used in rejections.
    """

    secret: bytes = attrs.field(converter=decode_secret, repr=False)
    tolerance: float = 300.0
    clock: Clock = SYSTEM_CLOCK
    integration: str = "standard-webhooks"

    def scheme(self) -> SignatureScheme:
        """Standard Webhooks v1: HMAC-SHA256 of ``id.timestamp.body`` within `tolerance`."""
        return SignatureScheme(
            "webhook-signature v1 (HMAC-SHA256 of id.timestamp.body, Standard Webhooks)",
            self.tolerance,
        )

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        prefix = "webhook" if request.headers.get_all("webhook-id") else "svix"
        msg_id, raw_ts, value = (
            single_header(request, f"{prefix}-{name}", integration=self.integration) or ""
            for name in ("id", "timestamp", "signature")
        )
        header = f"{prefix}-signature"
        presented = _signatures(value, header, self.integration)
        timestamp = parse_timestamp(
            raw_ts, header=f"{prefix}-timestamp", integration=self.integration
        )
        expected = standard_signature(self.secret, msg_id, timestamp, request.body)
        if not any_match([expected], presented):
            raise mismatch(f"{header} v1 (HMAC-SHA256)", integration=self.integration)
        check_window(
            timestamp,
            now=self.clock.now().timestamp(),
            tolerance=self.tolerance,
            header=f"{prefix}-timestamp",
            integration=self.integration,
        )
