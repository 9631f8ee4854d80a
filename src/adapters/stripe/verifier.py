"""
Stripe: ``Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]``.

The MAC is HMAC-SHA256 keyed with the endpoint secret *as text, ``whsec_`` prefix included*, over
``b"<t>." + raw body``. During a secret roll Stripe sends one ``v1`` per active secret, and the
endpoint may hold several secrets itself: any pair that matches is enough. Other schemes
(``v0``, test-mode) are ignored, as the official SDK does.

Stricter than ``stripe.WebhookSignature.verify_header``: future timestamps beyond the tolerance
are rejected (the SDK accepts them), ``t`` must appear once and be digits only, and a duplicated
``Stripe-Signature`` header is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...domain.webhooks import SignatureScheme, WebhookRequest
from ...ports.webhooks import WebhookVerifier
from ..webhooks.signatures import (
    any_match,
    check_window,
    mismatch,
    parse_timestamp,
    single_header,
)


__all__ = ["StripeWebhookVerifier", "stripe_signature"]

HEADER = "Stripe-Signature"
_T_HEADER = f"{HEADER} t"
_INTEGRATION = "stripe"


def stripe_signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The lowercase hex ``v1`` signature Stripe computes for ``body`` at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.digest(key, b"%d." % timestamp + body, hashlib.sha256).hex()


def _secrets(value: str | Sequence[str]) -> tuple[str, ...]:
    secrets = (value,) if isinstance(value, str) else tuple(value)
    if not secrets or not all(secrets):
        raise InvalidValue("secrets", "at least one non-empty Stripe endpoint secret")
    return secrets


def _parse(header: str) -> tuple[str, list[str]]:
    """The raw ``t`` value and every ``v1`` value of a Stripe-Signature header."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            msg = f"{HEADER} has an entry without '=' (expected t=...,v1=...)"
            raise MalformedWebhook(msg, integration=_INTEGRATION)
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1:
        msg = f"{HEADER} must carry exactly one t= timestamp, found {len(timestamps)}"
        raise MalformedWebhook(msg, integration=_INTEGRATION)
    if not signatures:
        msg = f"{HEADER} has no v1 signature (only v1 is accepted)"
        raise InvalidSignature(msg, integration=_INTEGRATION)
    return timestamps[0], signatures


def _keys_of(verifier: StripeWebhookVerifier) -> tuple[bytes, ...]:
    return tuple(secret.encode() for secret in verifier.secrets)


def _epoch_of(verifier: StripeWebhookVerifier) -> Callable[[], float]:
    return epoch_seconds(verifier.clock)


@attrs.frozen
class StripeWebhookVerifier(WebhookVerifier):
    """
    Verifies Stripe webhook deliveries against one or more endpoint secrets.

    Args:
        secrets: the endpoint secret(s) (``whsec_...``); give several while rolling secrets.
        tolerance: seconds a signed timestamp may be old or ahead of the clock.
        clock: the time source; `Clock.now` is compared with the signed timestamp.
    """

    secrets: tuple[str, ...] = attrs.field(converter=_secrets, repr=False)
    tolerance: float = 300.0
    clock: Clock = SYSTEM_CLOCK
    # Derived once: the secrets as HMAC keys, and the clock as epoch seconds.
    _keys: tuple[bytes, ...] = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(_keys_of, takes_self=True)
    )
    _epoch: Callable[[], float] = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(_epoch_of, takes_self=True)
    )

    def scheme(self) -> SignatureScheme:
        """
        ``t=,v1=`` HMAC-SHA256 over ``t.body``, within `tolerance`.

        Confirmed: https://stripe.com/docs/webhooks/signatures#verify-manually (``t.payload``).
        """
        rolling = f", {len(self.secrets)} secrets while rolling" if len(self.secrets) > 1 else ""
        return SignatureScheme(
            f"{HEADER} t=,v1= (HMAC-SHA256 of timestamp.body{rolling})", self.tolerance
        )

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        header = single_header(request, HEADER, integration=_INTEGRATION)
        assert header is not None
        raw_t, presented = _parse(header)
        timestamp = parse_timestamp(raw_t, header=_T_HEADER, integration=_INTEGRATION)
        expected = [stripe_signature(key, timestamp, request.body).encode() for key in self._keys]
        if not any_match(expected, [sig.encode() for sig in presented]):
            raise mismatch(f"{HEADER} v1 (HMAC-SHA256 of t.body)", integration=_INTEGRATION)
        check_window(
            timestamp,
            now=self._epoch(),
            tolerance=self.tolerance,
            header=_T_HEADER,
            integration=_INTEGRATION,
        )
