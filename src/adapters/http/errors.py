"""
The one place where HTTP outcomes become domain errors.

Status codes decide the *kind* of error (transient or permanent, sent or not); each vendor adds only
a `VendorErrorParser` that reads its error body into a `VendorError` (code, safe message, hints).

=========================  ==============================  ============  =================
HTTP outcome               domain error                    retried?      request_sent
=========================  ==============================  ============  =================
connect error / timeout    NetworkError / TimedOut         yes           False
pool timeout               TimedOut                        yes           False
read / write timeout       TimedOut                        idempotent    True (maybe applied)
reset after sending        NetworkError                    idempotent    True
408, 425                   TimedOut                        idempotent    True
429                        RateLimited (+ retry_after)     yes           False
503                        Unavailable                     yes           False
500, 502, 504, other 5xx   Unavailable                     idempotent    True
400, 422                   InvalidRequest                  no            True
401 / 403                  AuthenticationFailed / Perm.    no            True
404 / 409                  NotFound / Conflict             no (*)        True
2xx with a bad body        UnexpectedResponse              no            True
=========================  ==============================  ============  =================

A vendor hint wins over the table where the vendor is explicit: Stripe's ``Stripe-Should-Retry:
false`` turns a 5xx into a permanent error; (*) Stripe retries any 409 unless it says false.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx

from ...domain.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrationError,
    InvalidRequest,
    NetworkError,
    NotFound,
    PermanentError,
    PermissionDenied,
    RateLimited,
    TimedOut,
    Unavailable,
    UnexpectedResponse,
)
from ...domain.json_reader import ErrorFactory
from ...domain.time import utc_now


__all__ = [
    "VendorError",
    "VendorErrorParser",
    "error_from_response",
    "json_body",
    "parse_retry_after",
    "response_errors",
    "translate_transport_errors",
    "unexpected",
]


@attrs.frozen
class VendorError:
    """
    What a vendor's error body said, reduced to what resilience and humans need.

    Args:
        code: the vendor's error code ("card_declined", "131047", "20429"), if any.
        message: a safe explanation: the vendor's text only where it carries no patient data.
        retryable: the vendor's explicit verdict (``Stripe-Should-Retry``), overriding the status.
        retry_after: seconds to wait, from vendor-specific headers or body.
        permanent_kind: a permanent error type to raise instead of the status's default (e.g.
            WhatsApp's outside-the-window error is an `InvalidRequest` whatever its status).
        rate_limited: the body says "slow down" whatever the status (Meta's 130429 / 131056
            arrive as HTTP 400): raise `RateLimited` as for a 429.
    """

    code: str | None = None
    message: str | None = None
    retryable: bool | None = None
    retry_after: float | None = None
    permanent_kind: type[PermanentError] | None = None
    rate_limited: bool = False


VendorErrorParser = Callable[[httpx.Response, Any], VendorError]
"""Reads a vendor's error response (and its decoded JSON body, or None) into a `VendorError`."""

_PERMANENT_BY_STATUS: dict[int, type[PermanentError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    402: InvalidRequest,  # Stripe: the card was declined
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    410: NotFound,
    422: InvalidRequest,
}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """
    Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date.

    Returns None for a missing or unreadable value, never a negative or non-finite number.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utc_now())).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is empty or not JSON (an HTML error page)."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def error_from_response(
    response: httpx.Response,
    *,
    integration: str,
    operation: str,
    parse_vendor_error: VendorErrorParser,
) -> IntegrationError:
    """
    The domain error for a non-2xx response.

    Args:
        operation: what we were doing ("create payment intent"), for the message.
    """
    status = response.status_code
    body = json_body(response)
    try:
        vendor = parse_vendor_error(response, body)
    except (KeyError, TypeError, ValueError, AttributeError):
        vendor = VendorError()
    detail = vendor.message or response.reason_phrase or "error"
    message = f"{operation} failed: HTTP {status}: {detail}"
    common: dict[str, Any] = {
        "integration": integration,
        "vendor_code": vendor.code,
        "status_code": status,
    }
    retry_after = vendor.retry_after
    if retry_after is None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    if vendor.retryable is False or vendor.permanent_kind is not None:
        kind = vendor.permanent_kind or _PERMANENT_BY_STATUS.get(status, InvalidRequest)
        return kind(message, **common)
    if status == 429 or vendor.rate_limited:
        return RateLimited(message, retry_after=retry_after, **common)
    if status == 503:
        return Unavailable(message, request_sent=False, **common)
    if status in (408, 425):
        return TimedOut(message, **common)
    if status >= 500 or vendor.retryable:
        return Unavailable(message, **common)
    return _PERMANENT_BY_STATUS.get(status, InvalidRequest)(message, **common)


@contextlib.contextmanager
def translate_transport_errors(integration: str, operation: str) -> Iterator[None]:
    """Map httpx transport failures to domain errors, deciding whether the request was sent."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:
        kind = TimedOut if isinstance(err, httpx.ConnectTimeout) else NetworkError
        raise kind(
            f"{operation}: could not connect ({type(err).__name__})",
            integration=integration,
            request_sent=False,
        ) from err
    except httpx.PoolTimeout as err:
        raise TimedOut(
            f"{operation}: no free connection in the pool",
            integration=integration,
            request_sent=False,
        ) from err
    except httpx.TimeoutException as err:
        raise TimedOut(
            f"{operation}: no answer in time ({type(err).__name__}); the vendor may have acted",
            integration=integration,
        ) from err
    except httpx.TransportError as err:
        raise NetworkError(
            f"{operation}: connection failed ({type(err).__name__}); the vendor may have acted",
            integration=integration,
        ) from err


def unexpected(integration: str, operation: str, what: str) -> UnexpectedResponse:
    """The error for a 2xx response whose body is not what the vendor documents."""
    return UnexpectedResponse(
        f"{operation}: unexpected response from the vendor: {what}", integration=integration
    )


def response_errors(integration: str, operation: str) -> ErrorFactory:
    """The `JsonNode` error factory of a vendor's answer: `unexpected` naming the field's path."""

    def error(path: str, rule: str) -> Exception:
        return unexpected(integration, operation, f"{path}: {rule}")

    return error
