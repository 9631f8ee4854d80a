"""
Meta's Graph API error body, read into a `VendorError` (Cloud API error codes as of Graph v23.0).

Meta puts the meaning in ``error.code``, not in the HTTP status: a throughput limit comes back as
HTTP 400 with code 130429, so the code decides. 360dialog passes Meta's body through for Cloud
API numbers and answers its own errors (a bad key) as ``{"meta": {"developer_message": ...}}``;
the camelCase ``developerMessage`` is read too (issue 12 reports both spellings; 360dialog's
public docs, searched, show neither body in full, so both are accepted rather than guessed).
"""

from __future__ import annotations

from typing import Any

import httpx

from ...domain.errors import (
    AuthenticationFailed,
    InvalidRequest,
    PermanentError,
    PermissionDenied,
)
from ..http.errors import VendorError
from ..http.redact import safe_vendor_text


__all__ = ["OUTSIDE_WINDOW", "parse_meta_error"]

OUTSIDE_WINDOW = 131047
OUTSIDE_WINDOW_MESSAGE = (
    "free-form text refused: the patient has not written in the last 24 hours (outside the "
    "customer-service window); send a TemplateMessage instead"
)

# 4 app call limit, 80007 WABA limit, 130429 throughput, 131048 spam rate, 131056 pair rate.
_RATE_LIMITED = frozenset({4, 80007, 130429, 131048, 131056})
# 1 unknown, 2 service unavailable, 131000 something went wrong, 131016 service unavailable.
_TRANSIENT = frozenset({1, 2, 131000, 131016})
_PERMANENT: dict[int, type[PermanentError]] = {
    0: AuthenticationFailed,  # AuthException
    190: AuthenticationFailed,  # access token expired or invalid
    3: PermissionDenied,  # capability not granted
    10: PermissionDenied,  # permission denied
    100: InvalidRequest,  # invalid parameter
    131008: InvalidRequest,  # required parameter missing
    131009: InvalidRequest,  # parameter value invalid
    131026: InvalidRequest,  # message undeliverable
    131030: InvalidRequest,  # recipient not in the allowed list (test numbers)
    131051: InvalidRequest,  # unsupported message type
    OUTSIDE_WINDOW: InvalidRequest,
}


def parse_meta_error(response: httpx.Response, body: Any) -> VendorError:
    """Code, safe message and retry verdict from ``{"error": {"code", "message", ...}}``."""
    del response  # the status is judged by the shared table; Meta's code refines it
    if not isinstance(body, dict):
        return VendorError()
    error = body.get("error")
    if not isinstance(error, dict):
        return _dialog360_error(body)
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        return VendorError(message=safe_vendor_text(error.get("message")))
    message = _message(error)
    if code == OUTSIDE_WINDOW:
        message = OUTSIDE_WINDOW_MESSAGE
    if code in _RATE_LIMITED:
        return VendorError(code=str(code), message=message, rate_limited=True)
    if code in _TRANSIENT:
        return VendorError(code=str(code), message=message, retryable=True)
    kind = _PERMANENT.get(code)
    if kind is None and 200 <= code <= 299:  # Meta: API permission codes
        kind = PermissionDenied
    if kind is None and 132000 <= code <= 132999:  # template errors
        kind = InvalidRequest
    return VendorError(code=str(code), message=message, permanent_kind=kind)


def _message(error: dict[str, Any]) -> str | None:
    text = safe_vendor_text(error.get("message"))
    data = error.get("error_data")
    details = safe_vendor_text(data.get("details")) if isinstance(data, dict) else None
    if text and details:
        return f"{text}: {details}"
    return text or details


def _dialog360_error(body: dict[str, Any]) -> VendorError:
    meta = body.get("meta")
    if isinstance(meta, dict):
        text = safe_vendor_text(meta.get("developer_message")) or safe_vendor_text(
            meta.get("developerMessage")
        )
        return VendorError(message=text)
    return VendorError()
