"""The one error mapping: every status, every httpx transport exception, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from portico.adapters.http.errors import (
    VendorError,
    error_from_response,
    json_body,
    parse_retry_after,
    translate_transport_errors,
)
from portico.domain.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrationError,
    InvalidRequest,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    TimedOut,
    TransientError,
    Unavailable,
)


def _no_vendor(_response: httpx.Response, _body: Any) -> VendorError:
    return VendorError()


def _map(status: int, *, parser: Any = _no_vendor, **kwargs: Any) -> IntegrationError:
    response = httpx.Response(status, request=httpx.Request("POST", "https://v.test/x"), **kwargs)
    return error_from_response(
        response, integration="vendor", operation="do it", parse_vendor_error=parser
    )


@pytest.mark.parametrize(
    ("status", "kind", "sent"),
    [
        (400, InvalidRequest, True),
        (401, AuthenticationFailed, True),
        (402, InvalidRequest, True),
        (403, PermissionDenied, True),
        (404, NotFound, True),
        (405, InvalidRequest, True),
        (408, TimedOut, True),
        (409, Conflict, True),
        (410, NotFound, True),
        (413, InvalidRequest, True),
        (422, InvalidRequest, True),
        (425, TimedOut, True),
        (429, RateLimited, False),
        (500, Unavailable, True),
        (501, Unavailable, True),
        (502, Unavailable, True),
        (503, Unavailable, False),
        (504, Unavailable, True),
        (599, Unavailable, True),
    ],
)
def test_each_status_maps_to_its_domain_error(status: int, kind: type, sent: bool) -> None:
    """Each status gives the table's error type and the table's request_sent."""
    error = _map(status)
    assert type(error) is kind
    assert error.request_sent is sent
    assert error.status_code == status
    assert error.integration == "vendor"
    assert f"HTTP {status}" in error.message


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found |= {sub, *_all_subclasses(sub)}
    return found


TRANSPORT_ERRORS = sorted(
    _all_subclasses(httpx.TransportError) | {httpx.TransportError}, key=lambda c: c.__name__
)
NOT_SENT = {httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout}


@pytest.mark.parametrize("exc_class", TRANSPORT_ERRORS, ids=lambda c: c.__name__)
def test_every_httpx_transport_exception_is_mapped(exc_class: type[Exception]) -> None:
    """Every httpx transport error becomes a transient domain error, chained, sent-or-not known."""
    with pytest.raises(TransientError) as caught, translate_transport_errors("vendor", "do it"):
        raise exc_class("boom")
    error = caught.value
    assert isinstance(error.__cause__, exc_class)
    assert error.request_sent is (exc_class not in NOT_SENT)
    expected = TimedOut if issubclass(exc_class, httpx.TimeoutException) else NetworkError
    assert isinstance(error, expected)
    assert "boom" not in str(error)


def test_the_transport_error_list_is_complete() -> None:
    """The parametrisation above covers httpx's whole transport hierarchy (no silent gaps)."""
    names = {c.__name__ for c in TRANSPORT_ERRORS}
    assert {
        "ConnectError",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "RemoteProtocolError",
        "ReadError",
        "WriteError",
        "ProxyError",
        "UnsupportedProtocol",
    } <= names


def test_non_transport_errors_pass_through() -> None:
    """Errors that are not transport failures are not disguised as vendor errors."""
    with pytest.raises(httpx.DecodingError), translate_transport_errors("vendor", "do it"):
        raise httpx.DecodingError("bad gzip")


def test_retry_after_seconds_reach_rate_limited() -> None:
    """A 429's Retry-After in seconds becomes retry_after."""
    error = _map(429, headers={"Retry-After": "7"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_vendor_retry_after_wins_over_the_header() -> None:
    """A vendor parser's retry_after (from its own headers) is used first."""
    error = _map(
        429, parser=lambda r, b: VendorError(retry_after=2.5), headers={"Retry-After": "60"}
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.5


NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("Tue, 24 Nov 2026 12:00:30 GMT", 30.0),
        ("soon", None),
        ("", None),
        ("inf", None),
        ("nan", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is delay-seconds or an HTTP-date; nonsense is None, never negative."""
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "content",
    [b"", b"<html><body>502 Bad Gateway</body></html>", b'{"error": {"type": "api', b"\xff\xfe"],
    ids=["empty", "html", "truncated", "not-utf8"],
)
def test_json_body_is_none_when_not_json(content: bytes) -> None:
    """An empty, HTML, truncated or undecodable body reads as None, never an exception."""
    assert json_body(httpx.Response(502, content=content)) is None


def test_html_502_maps_to_unavailable() -> None:
    """An HTML error page from a proxy is still an Unavailable with the status reason."""
    error = _map(502, content=b"<html>Bad Gateway</html>")
    assert isinstance(error, Unavailable)
    assert "Bad Gateway" in error.message


def test_vendor_should_not_retry_makes_a_5xx_permanent() -> None:
    """retryable=False (Stripe-Should-Retry: false) turns a 500 into a permanent error."""
    error = _map(500, parser=lambda r, b: VendorError(retryable=False))
    assert type(error) is InvalidRequest


def test_vendor_retryable_makes_a_4xx_transient() -> None:
    """retryable=True (a lock_timeout 409) makes the error transient."""
    error = _map(409, parser=lambda r, b: VendorError(code="lock_timeout", retryable=True))
    assert isinstance(error, Unavailable)
    assert error.vendor_code == "lock_timeout"


def test_vendor_permanent_kind_wins() -> None:
    """A vendor's permanent_kind replaces the status default."""
    error = _map(400, parser=lambda r, b: VendorError(permanent_kind=Conflict))
    assert type(error) is Conflict


def test_vendor_rate_limited_hint_on_a_400() -> None:
    """A body that says 'slow down' is RateLimited even on a 400."""
    error = _map(400, parser=lambda r, b: VendorError(rate_limited=True))
    assert isinstance(error, RateLimited)


def test_a_crashing_vendor_parser_falls_back_to_the_status() -> None:
    """A parser that raises KeyError on an odd body does not hide the status mapping."""

    def broken(_r: httpx.Response, body: Any) -> VendorError:
        return VendorError(code=body["missing"])

    error = _map(404, parser=broken, json={})
    assert type(error) is NotFound
