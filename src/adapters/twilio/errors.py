"""
Twilio's REST error body, read into a `VendorError` (API version 2010-04-01).

``{"code": 21211, "message": "The 'To' number ... is not a valid phone number.", "more_info":
"https://www.twilio.com/docs/errors/21211", "status": 400}``. Twilio echoes numbers back in its
messages, so the text is scrubbed before it is kept.
"""

from __future__ import annotations

from typing import Any

import httpx

from ...domain.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermanentError,
    PermissionDenied,
)
from ..http.errors import VendorError
from ..http.redact import safe_vendor_text


__all__ = ["parse_twilio_error"]

# Too many requests. 14107 (send rate between two numbers) is not here: Twilio never answers it
# synchronously but sets the message to failed for 30 s (https://www.twilio.com/docs/api/errors/14107),
# so it arrives through the status callback.
_RATE_LIMITED = frozenset({20429})
_TRANSIENT = frozenset({20500, 20503})  # internal error; service unavailable
_PERMANENT: dict[int, type[PermanentError]] = {
    20003: AuthenticationFailed,  # authentication failed
    20404: NotFound,  # resource not found
    21211: InvalidRequest,  # invalid 'To' number
    21408: PermissionDenied,  # no permission to send to this region
    21606: InvalidRequest,  # 'From' is not a valid message-capable number
    21610: InvalidRequest,  # the recipient replied STOP
    21614: InvalidRequest,  # 'To' is not a mobile number
    21617: InvalidRequest,  # body over 1600 characters
}


def parse_twilio_error(response: httpx.Response, body: Any) -> VendorError:
    """Code, safe message and retry verdict from Twilio's error JSON."""
    del response
    if not isinstance(body, dict):
        return VendorError()
    code = body.get("code")
    message = safe_vendor_text(body.get("message"))
    if not isinstance(code, int) or isinstance(code, bool):
        return VendorError(message=message)
    if code in _RATE_LIMITED:
        return VendorError(code=str(code), message=message, rate_limited=True)
    if code in _TRANSIENT:
        return VendorError(code=str(code), message=message, retryable=True)
    return VendorError(code=str(code), message=message, permanent_kind=_PERMANENT.get(code))
