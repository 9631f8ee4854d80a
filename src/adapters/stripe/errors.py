"""
Stripe's error bodies, read into a `VendorError`.

Stripe answers ``{"error": {"type", "code", "decline_code", "param", "message"}}`` and says in
``Stripe-Should-Retry`` whether a retry is safe; both win over the status code where explicit.
An ``idempotency_error`` is a `Conflict` when the key was used with other parameters (400), and
transient when another request with the key is still executing (409), as Stripe's "Advanced
error handling" page describes.
"""

from __future__ import annotations

from typing import Any

import httpx

from ...domain.errors import Conflict, InvalidRequest, NotFound
from ..http.errors import VendorError
from ..http.redact import safe_vendor_text


__all__ = ["parse_stripe_error"]

# Codes that say "the same request may work in a moment", whatever the status.
_TRANSIENT_CODES = frozenset({"lock_timeout", "rate_limit", "idempotency_key_in_use"})
# Codes whose permanent meaning is clearer than their status.
_PERMANENT_CODES = {
    "resource_missing": NotFound,
    "payment_intent_unexpected_state": InvalidRequest,
    "charge_already_refunded": InvalidRequest,
    "amount_too_large": InvalidRequest,
    "amount_too_small": InvalidRequest,
}


def parse_stripe_error(response: httpx.Response, body: Any) -> VendorError:
    """Read a Stripe error response (``body`` is its decoded JSON, or None)."""
    should_retry = _should_retry(response.headers.get("stripe-should-retry"))
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return VendorError(retryable=should_retry)
    kind = _text(error.get("type"))
    code = _text(error.get("code"))
    decline = _text(error.get("decline_code"))
    param = _text(error.get("param"))
    message = _describe(kind, code, decline, param, safe_vendor_text(error.get("message")))
    if kind == "idempotency_error":
        if response.status_code == 409 or code == "idempotency_key_in_use":
            # Another request with this key is still executing: retrying later replays it.
            retry = should_retry is not False
            return VendorError(code=code or kind, message=message, retryable=retry)
        # The key was used with other parameters: never retry, never resend.
        return VendorError(code=code or kind, message=message, permanent_kind=Conflict)
    if code in _TRANSIENT_CODES and should_retry is not False:
        return VendorError(code=code, message=message, retryable=True)
    if response.status_code == 409 and should_retry is not False:
        # stripe-python retries every 409 unless Stripe-Should-Retry says false
        # (stripe/stripe-python stripe/_http_client.py `_should_retry`: "Retry on conflict
        # errors"); with the same Idempotency-Key a retry cannot apply twice.
        return VendorError(code=decline or code or kind, message=message, retryable=True)
    permanent = _PERMANENT_CODES.get(code or "")
    if kind == "card_error":
        permanent = InvalidRequest  # a declined card is a 402 that no retry fixes
    return VendorError(
        code=decline or code or kind,
        message=message,
        retryable=should_retry,
        permanent_kind=permanent if should_retry is not True else None,
    )


def _should_retry(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _describe(
    kind: str | None, code: str | None, decline: str | None, param: str | None, text: str | None
) -> str:
    parts = [p for p in (kind, code, decline) if p]
    head = "/".join(parts) or "stripe error"
    where = f" (param {param})" if param else ""
    return f"{head}{where}: {text}" if text else f"{head}{where}"
