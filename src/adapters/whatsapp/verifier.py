"""
Meta (WhatsApp Cloud API) webhooks, and 360dialog's partner signature.

Meta signs every POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
body)>``. The body must be the exact bytes received: Meta escapes non-ASCII as ``\\uXXXX``, so
re-serialised JSON no longer verifies. Subscribing an endpoint is a GET handshake
(``hub.mode=subscribe``, ``hub.verify_token``, ``hub.challenge``) answered by `handshake`.

360dialog (`Dialog360WebhookVerifier`): partner webhooks carry ``x-360dialog-signature``, an
HMAC-SHA256 of the body with the partner's platform secret. Its encoding is not shown in
360dialog's docs; third-party code reads it as lowercase hex, sometimes with ``sha256=``, so both
are accepted. Client (non-partner) channel webhooks carry no HMAC: authenticate those with a
static header of your choice (`adapters.webhooks.verifiers.vapi.VapiWebhookVerifier` with
``header="X-Partner-Auth"`` checks one in constant time).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import ClassVar

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.webhooks import SignatureScheme, WebhookRequest
from ...ports.webhooks import WebhookVerifier
from ..webhooks.signatures import any_match, mismatch, single_header


__all__ = ["Dialog360WebhookVerifier", "MetaWebhookVerifier", "body_hmac_sha256_hex"]

_CHALLENGE = re.compile(r"[A-Za-z0-9._-]{1,512}")
_HEX = re.compile(r"[0-9a-fA-F]{64}")


def body_hmac_sha256_hex(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the raw body: Meta's and 360dialog's MAC."""
    return hmac.digest(secret.encode(), body, "sha256").hex()


def _non_empty(name: str) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
        if not value:
            raise InvalidValue(name, "a non-empty secret")

    return check


def _verify_hex_body_mac(
    request: WebhookRequest,
    *,
    secret: str,
    header: str,
    prefix_required: bool,
    integration: str,
) -> None:
    value = single_header(request, header, integration=integration)
    assert value is not None
    hex_part = value.removeprefix("sha256=")
    if prefix_required and hex_part == value:
        msg = f"{header} must be sha256=<hex>"
        raise MalformedWebhook(msg, integration=integration)
    if not _HEX.fullmatch(hex_part):
        msg = f"{header} must carry 64 hex digits (HMAC-SHA256)"
        raise MalformedWebhook(msg, integration=integration)
    expected = body_hmac_sha256_hex(secret, request.body).encode()
    if not any_match([expected], [hex_part.lower().encode()]):
        raise mismatch(f"{header} (HMAC-SHA256 of the raw body)", integration=integration)


@attrs.frozen
class MetaWebhookVerifier(WebhookVerifier):
    """
    Verifies WhatsApp Cloud API deliveries and answers the subscription handshake.

    Args:
        app_secret: the Meta app's App Secret (App settings > Basic).
        verify_token: the Verify Token typed in the dashboard; None refuses every handshake.
        integration: the name used in rejections.
    """

    app_secret: str = attrs.field(repr=False, validator=_non_empty("app_secret"))
    verify_token: str | None = attrs.field(default=None, repr=False)
    integration: str = "whatsapp"

    header: ClassVar[str] = "X-Hub-Signature-256"

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        _verify_hex_body_mac(
            request,
            secret=self.app_secret,
            header=self.header,
            prefix_required=True,
            integration=self.integration,
        )

    def scheme(self) -> SignatureScheme:
        """
        The raw body only, no timestamp signed.

        Confirmed: https://hexdocs.pm/whatsapp_sdk/WhatsApp.Webhook.html (X-Hub-Signature-256,
        HMAC-SHA256 of the raw body keyed with the App Secret).
        """
        return SignatureScheme(f"{self.header} sha256= (HMAC-SHA256 of the raw body)", None)

    def handshake(self, request: WebhookRequest) -> str:
        """
        The ``hub.challenge`` to echo (plain text, 200) when the GET subscription is genuine.

        Raises:
            MalformedWebhook: a ``hub.*`` parameter is missing, repeated or unexpected.
            InvalidSignature: the verify token is wrong, or none is configured.
        """
        params: dict[str, list[str]] = {}
        for key, value in request.query:
            params.setdefault(key, []).append(value)
        fields = {}
        for name in ("hub.mode", "hub.verify_token", "hub.challenge"):
            values = params.get(name, [])
            if len(values) != 1:
                msg = f"the handshake needs exactly one {name} query parameter"
                raise MalformedWebhook(msg, integration=self.integration)
            fields[name] = values[0]
        if fields["hub.mode"] != "subscribe":
            msg = "hub.mode must be 'subscribe'"
            raise MalformedWebhook(msg, integration=self.integration)
        if not _CHALLENGE.fullmatch(fields["hub.challenge"]):
            msg = "hub.challenge must be 1-512 letters, digits, '.', '_' or '-'"
            raise MalformedWebhook(msg, integration=self.integration)
        if self.verify_token is None:
            msg = "no verify_token is configured, so no subscription handshake is accepted"
            raise InvalidSignature(msg, integration=self.integration)
        presented = fields["hub.verify_token"].encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(presented, self.verify_token.encode("utf-8", "surrogatepass")):
            msg = "hub.verify_token does not match the configured verify token"
            raise InvalidSignature(msg, integration=self.integration)
        return fields["hub.challenge"]


@attrs.frozen
class Dialog360WebhookVerifier(WebhookVerifier):
    """
    Verifies 360dialog partner webhooks (``x-360dialog-signature``, hex, optional ``sha256=``).

    Args:
        platform_secret: the partner platform secret from the 360dialog Partner Hub.
    """

    platform_secret: str = attrs.field(repr=False, validator=_non_empty("platform_secret"))
    integration: str = "360dialog"

    header: ClassVar[str] = "x-360dialog-signature"

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        _verify_hex_body_mac(
            request,
            secret=self.platform_secret,
            header=self.header,
            prefix_required=False,
            integration=self.integration,
        )

    def scheme(self) -> SignatureScheme:
        """360dialog's partner HMAC of the body, no timestamp."""
        return SignatureScheme(f"{self.header} (hex HMAC-SHA256 of the body)", None)
