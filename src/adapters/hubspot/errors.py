"""
HubSpot's error bodies and rate-limit headers, read into a `VendorError`.

Errors are ``{"status": "error", "message", "correlationId", "category"}``; a 429 adds
``errorType: RATE_LIMIT`` and ``policyName`` (SECONDLY, TEN_SECONDLY_ROLLING, DAILY) and comes
with ``X-HubSpot-RateLimit-*`` headers that say how long the window is.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from ..http.errors import VendorError
from ..http.redact import safe_vendor_text


__all__ = ["EXISTING_ID", "existing_contact_id", "parse_hubspot_error", "quota_left"]

# "Contact already exists. Existing ID: 12345" (409, category CONFLICT).
_EXISTING = re.compile(r"Existing ID:\s*(\d+)")
# How the existing id travels in our error message; the CRM adapter reads it back.
EXISTING_ID = re.compile(r"existing contact id (\d+)")


def parse_hubspot_error(response: httpx.Response, body: Any) -> VendorError:
    """Read a HubSpot error response (``body`` is its decoded JSON, or None)."""
    data = body if isinstance(body, dict) else {}
    category = _text(data.get("category"))
    error_type = _text(data.get("errorType"))
    policy = _text(data.get("policyName"))
    correlation = _text(data.get("correlationId"))
    raw_message = data.get("message")
    if response.status_code == 429 or error_type == "RATE_LIMIT":
        return VendorError(
            code=f"RATE_LIMIT/{policy}" if policy else "RATE_LIMIT",
            message=_with_correlation("rate limit reached", correlation),
            retry_after=_rate_limit_wait(response.headers, policy),
        )
    if category == "CONFLICT" and isinstance(raw_message, str):
        found = _EXISTING.search(raw_message)
        if found:
            # An object id, not patient data: kept so the adapter can update that contact.
            text = f"contact already exists; existing contact id {found.group(1)}"
            return VendorError(code=category, message=_with_correlation(text, correlation))
    return VendorError(
        code=category or error_type,
        message=_with_correlation(safe_vendor_text(raw_message), correlation),
    )


def existing_contact_id(message: str) -> str | None:
    """The existing contact id carried by a 409 from `parse_hubspot_error`, if any."""
    found = EXISTING_ID.search(message)
    return found.group(1) if found else None


def _rate_limit_wait(headers: httpx.Headers, policy: str | None) -> float | None:
    """
    Seconds until the window reopens, from HubSpot's headers.

    ``Retry-After`` is left to the shared layer. When the per-interval budget is spent
    (``-Remaining: 0``) the wait is one ``-Interval-Milliseconds``; a spent daily budget has no
    header that says when it resets (midnight in the account's time zone), so None.
    """
    if headers.get("retry-after") is not None or policy == "DAILY":
        return None
    remaining = _number(headers.get("x-hubspot-ratelimit-remaining"))
    interval_ms = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    if interval_ms is None or interval_ms <= 0:
        return None
    if remaining is None or remaining <= 0:
        return interval_ms / 1000.0
    return None


def quota_left(headers: httpx.Headers) -> tuple[int, float] | None:
    """
    ``(calls left, window seconds)`` from any HubSpot response's rate-limit headers, or None.

    The calls left are the fewer of ``X-HubSpot-RateLimit-Remaining`` (in the current
    ``-Interval-Milliseconds``, a ten-second rolling window for private apps) and
    ``X-HubSpot-RateLimit-Daily-Remaining``: a nearly spent day slows the calls to what is
    left of it per window (its reset time is not in any header). OAuth calls carry no daily
    headers; a response without an interval says nothing usable.
    """
    interval_ms = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    if interval_ms is None or interval_ms <= 0:
        return None
    counts = [
        number
        for name in ("x-hubspot-ratelimit-remaining", "x-hubspot-ratelimit-daily-remaining")
        if (number := _number(headers.get(name))) is not None
    ]
    if not counts:
        return None
    return int(min(counts)), interval_ms / 1000.0


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _with_correlation(text: str | None, correlation: str | None) -> str | None:
    if correlation is None:
        return text
    safe = re.sub(r"[^A-Za-z0-9-]", "", correlation)[:64]
    return f"{text or 'error'} (correlationId {safe})"
