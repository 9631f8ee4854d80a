"""
Vapi's error body, read into a `VendorError`.

Vapi answers errors NestJS-style: ``{"message": "..." | ["...", ...], "error": "Bad Request",
"statusCode": 400}``; validation messages may quote the customer's number, so they are scrubbed.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..http.errors import VendorError
from ..http.redact import safe_vendor_text


__all__ = ["parse_vapi_error"]


def parse_vapi_error(response: httpx.Response, body: Any) -> VendorError:
    """A safe message from ``message`` (a string or a list of strings); Vapi has no codes."""
    del response
    if not isinstance(body, dict):
        return VendorError()
    message = body.get("message")
    if isinstance(message, list):
        message = "; ".join(item for item in message if isinstance(item, str))
    return VendorError(message=safe_vendor_text(message))
