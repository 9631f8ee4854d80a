"""The shared HTTP layer of the vendor adapters: one client shape, one error mapping."""

from .client import DEFAULT_TIMEOUT, VendorClient, build_client
from .errors import (
    VendorError,
    VendorErrorParser,
    error_from_response,
    json_body,
    parse_retry_after,
    response_errors,
    translate_transport_errors,
    unexpected,
)
from .forms import encode_form


__all__ = [
    "DEFAULT_TIMEOUT",
    "VendorClient",
    "VendorError",
    "VendorErrorParser",
    "build_client",
    "encode_form",
    "error_from_response",
    "json_body",
    "parse_retry_after",
    "response_errors",
    "translate_transport_errors",
    "unexpected",
]
