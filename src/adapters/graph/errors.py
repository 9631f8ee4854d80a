"""
Microsoft Graph's error bodies, read into a `VendorError`.

Graph answers ``{"error": {"code": "ErrorInvalidUser", "message": "...", "innerError":
{"date", "request-id", "client-request-id"}}}`` (Microsoft Learn, "Microsoft Graph error
responses and resource types"). The status decides the kind (401 `AuthenticationFailed`, 403
`PermissionDenied`, 404 `NotFound`, 429 `RateLimited`, 503 `Unavailable`); throttling carries
``Retry-After`` in seconds, which the shared mapping honours. The request id is kept for
Microsoft support; the message is scrubbed (it may echo an address).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from ..http.errors import VendorError
from ..http.redact import safe_vendor_text


__all__ = ["parse_graph_error"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def parse_graph_error(response: httpx.Response, body: Any) -> VendorError:
    """Read a Graph error response (``body`` is its decoded JSON, or None)."""
    error = body.get("error") if isinstance(body, dict) else None
    data = error if isinstance(error, dict) else {}
    raw_code = data.get("code")
    code = (_SAFE.sub("", raw_code)[:64] or None) if isinstance(raw_code, str) else None
    text = safe_vendor_text(data.get("message")) or "error"
    inner = data.get("innerError") or data.get("innererror")
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    if isinstance(request_id, str) and _SAFE.sub("", request_id):
        text = f"{text} (request-id {_SAFE.sub('', request_id)[:64]})"
    return VendorError(code=code, message=text)
