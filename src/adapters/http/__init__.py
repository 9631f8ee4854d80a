"""The shared HTTP layer of the vendor adapters: one client shape, one error mapping."""

from adapters.http.client import DEFAULT_TIMEOUT, VendorClient, build_client
from adapters.http.errors import (
    VendorError,
    VendorErrorParser,
    error_from_response,
    json_body,
    parse_retry_after,
    translate_transport_errors,
    unexpected,
)
from adapters.http.forms import encode_form
from adapters.http.reading import Fields


__all__ = [
    "DEFAULT_TIMEOUT",
    "Fields",
    "VendorClient",
    "VendorError",
    "VendorErrorParser",
    "build_client",
    "encode_form",
    "error_from_response",
    "json_body",
    "parse_retry_after",
    "translate_transport_errors",
    "unexpected",
]
