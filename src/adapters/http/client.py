"""
`VendorClient`: one vendor's base URL, credentials, timeouts and error mapping around an
`httpx.AsyncClient` that is always injectable (tests, the sandbox and benchmarks point it anywhere).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import attrs
import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode

from ...domain.json_reader import JsonNode
from ...ports.tokens import TokenProvider
from ..resilience import spend_request
from ..telemetry import TELEMETRY, url_template
from .errors import (
    VendorErrorParser,
    error_from_response,
    json_body,
    response_errors,
    translate_transport_errors,
    unexpected,
)


__all__ = ["DEFAULT_TIMEOUT", "VendorClient", "build_client"]

logger = logging.getLogger("portico.http")

# Connect quickly or not at all; give the vendor longer to answer (Stripe advises ~80 s for some
# calls, but a patient-facing flow prefers failing over to the outbox).
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0, pool=5.0)
_NO_AUTH: dict[str, Any] = {"auth": None}


def build_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with explicit timeouts and pool limits; ``transport`` is the seam."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=dict(headers or {}),
        auth=auth,
        timeout=timeout,
        transport=transport,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        follow_redirects=False,
    )


@attrs.define
class VendorClient:
    """
    Sends a request and returns the decoded JSON body, or raises the right domain error.

    Never logs bodies, query strings or headers (they carry tokens and patient data): only the
    method, the path, the status and the time taken (and not even the path of a ``secret_url``).
    Every vendor call of an adapter goes through here, so there is one transport translation,
    one error mapping and one JSON decoding. ``on_response`` sees every response the vendor
    sent (2xx or not) before it is mapped: the hook through which an adapter tells its
    account's shared quota what the vendor's rate-limit headers say (it must not raise).

    With ``tokens`` (OAuth2), each request carries ``Authorization: Bearer`` with the provider's
    current token; a 401 invalidates that token and the request is sent once more with a fresh
    one (a 401 means the vendor did not act, so this is safe for any call), never more: a
    second 401 is the caller's `AuthenticationFailed`.
    """

    integration: str
    http: httpx.AsyncClient = attrs.field(repr=False)
    parse_vendor_error: VendorErrorParser = attrs.field(repr=False)
    on_response: Callable[[httpx.Response], Awaitable[None]] | None = attrs.field(
        default=None, repr=False
    )
    tokens: TokenProvider | None = attrs.field(default=None, repr=False, kw_only=True)

    async def request(
        self,
        operation: str,
        method: str,
        url: str | httpx.URL,
        *,
        json: Any = None,
        data: Mapping[str, str] | list[tuple[str, str]] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonNode:
        """Send, map failures to domain errors, and return the JSON object of a 2xx response."""
        response = await self.send(
            operation, method, url, json=json, data=data, params=params, headers=headers
        )
        body = json_body(response)
        if not isinstance(body, dict):
            raise unexpected(self.integration, operation, "the body is not a JSON object")
        return JsonNode(body, error=response_errors(self.integration, operation))

    async def request_list(
        self,
        operation: str,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[JsonNode]:
        """Like `request`, for an endpoint whose 2xx body is a JSON array of objects."""
        response = await self.send(operation, method, url, params=params, headers=headers)
        body = json_body(response)
        if not isinstance(body, list):
            raise unexpected(self.integration, operation, "the body is not a JSON array")
        items = JsonNode(body, error=response_errors(self.integration, operation)).elements()
        for item in items:
            if not isinstance(item.value, dict):
                item.fail("must be an object")
        return items

    async def send(
        self,
        operation: str,
        method: str,
        url: str | httpx.URL,
        *,
        json: Any = None,
        data: Mapping[str, str] | list[tuple[str, str]] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        without_headers: Collection[str] = (),
        secret_url: bool = False,
    ) -> httpx.Response:
        """
        Send and return a 2xx response whose body is the caller's business.

        Args:
            url: a path on the client's base URL, or an absolute URL (another host).
            headers: per-request headers (e.g. the credential), over the client's defaults.
            without_headers: client default headers NOT to send (e.g. ``Authorization`` to a
                host that must not see the credential).
            secret_url: the URL itself is a capability: its path is not logged either.
        """
        started = time.perf_counter()
        request = self.http.build_request(
            method,
            url,
            json=json,
            content=_form(data) if data is not None else None,
            params=params,
            headers=_with_form_type(headers, data is not None),
        )
        for name in without_headers:
            request.headers.pop(name, None)
        # A client-level ``auth`` would put the credential back: drop it with the header.
        no_auth = any(name.lower() == "authorization" for name in without_headers)
        if self.tokens is None or no_auth:
            response = await self._send_once(operation, request, no_auth=no_auth, secret=secret_url)
        else:
            token = await self.tokens.token()
            request.headers["Authorization"] = f"Bearer {token.value}"
            response = await self._send_once(operation, request, no_auth=False, secret=secret_url)
            if response.status_code == 401:
                await self.tokens.invalidate(token)
                token = await self.tokens.token()
                request.headers["Authorization"] = f"Bearer {token.value}"
                response = await self._send_once(
                    operation, request, no_auth=False, secret=secret_url
                )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s %s -> %d in %.1f ms",
                self.integration,
                method,
                "<capability URL>" if secret_url else response.request.url.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        if self.on_response is not None:
            await self.on_response(response)
        if not response.is_success:
            raise error_from_response(
                response,
                integration=self.integration,
                operation=operation,
                parse_vendor_error=self.parse_vendor_error,
            )
        return response

    async def _traced(
        self, request: httpx.Request, operation: str, *, no_auth: bool, secret: bool
    ) -> httpx.Response:
        """
        One HTTP attempt as a client span (OpenTelemetry's HTTP client conventions): method,
        server, the URL's template (no query, no id; nothing at all for a capability URL).
        """
        url = request.url
        template = "{capability}" if secret else url_template(url.path)
        attributes = {
            "http.request.method": request.method,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.template": template,
            "portico.integration": self.integration,
            "portico.operation": operation,
        }
        with TELEMETRY.span(
            f"{request.method} {template}", attributes, kind=SpanKind.CLIENT
        ) as span:
            try:
                with translate_transport_errors(self.integration, operation):
                    response = await self.http.send(request, **_NO_AUTH if no_auth else {})
            except Exception as exc:
                if span is not None:
                    span.set_attribute("error.type", type(exc).__name__)
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            if span is not None:
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    span.set_attribute("error.type", str(response.status_code))
                    span.set_status(Status(StatusCode.ERROR))
            return response

    async def _send_once(
        self, operation: str, request: httpx.Request, *, no_auth: bool, secret: bool
    ) -> httpx.Response:
        await spend_request()  # a further request of the attempt takes its own rate-limit token
        if TELEMETRY.tracing:
            return await self._traced(request, operation, no_auth=no_auth, secret=secret)
        with translate_transport_errors(self.integration, operation):
            return await self.http.send(request, **_NO_AUTH if no_auth else {})

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        await self.http.aclose()


def _form(data: Mapping[str, str] | list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    pairs = list(data.items()) if isinstance(data, Mapping) else data
    return urlencode(pairs).encode()


def _with_form_type(headers: Mapping[str, str] | None, is_form: bool) -> dict[str, str]:
    merged = dict(headers or {})
    if is_form:
        merged.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return merged
