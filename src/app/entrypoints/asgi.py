"""
The webhook endpoint as a plain ASGI 3 application: no framework, any ASGI server.

Routes, relative to where the app is mounted (``{prefix}`` is `create_webhook_app`'s ``prefix``,
empty by default)::

    POST {prefix}/{provider}    a delivery -> WebhookIngress.handle
    GET  {prefix}/{provider}    a subscription handshake (Meta's hub.challenge) -> .handshake
    GET  /healthz               liveness: {"status": "ok"} while the process answers at all,
                                with ``shared_breakers`` (state, tripping worker, Redis reachable)
                                when an integration shares its circuit through Redis
    GET  /readyz                readiness: 200 {"status": "ready"} when deliveries can be
                                processed (one round trip to the replay store), else 503
                                {"status": "unavailable", "problems": [...]}: take the instance
                                out of the load balancer, do not restart it
    GET  /healthz/webhooks      the ingress counters per provider, as JSON (``portico health
                                --server URL`` renders them), and the recent permanent handler
                                failures (event ids and type names only); nothing secret;
                                ``status`` "ok", or "unhealthy" with ``problems`` (and 503)
                                while the replay store cannot be used
    GET  /healthz/outbox        the outbox's counts: pending, in flight, dead, oldest pending age,
                                per integration, and ``status`` "ok" or "degraded" (dead letters,
                                or a command pending longer than ``max_pending_age``); numbers
                                only, never a payload; 503 when the outbox cannot be read
    GET|POST {console.path}/... the operators' console when built with ``console=``
                                (`app.entrypoints.console`): 401 without a session

Mounted in a FastAPI / Starlette host, the mount point is the prefix: after
``api.mount("/webhooks", create_webhook_app(container))`` providers call
``POST /webhooks/stripe`` and the health routes answer at ``/webhooks/healthz...``; mounted at
``/hooks``, the same app serves ``POST /hooks/stripe``. Served alone at the root, the app needs a
prefix of its own to keep deliveries apart from the health routes: ``portico serve`` passes
``prefix=STANDALONE_PREFIX`` (``/webhooks``), so it serves ``POST /webhooks/{provider}`` and
``GET /healthz*``, as does ``uvicorn`` on ``create_webhook_app(..., prefix="/webhooks")``.
Without a prefix no provider may be called ``healthz``.

Providers sign the URL they called (Twilio, HubSpot v3). The URL handed to the verifiers is always
the one requested, mount point included. Behind a proxy the server sees another scheme and host,
so set ``public_base_url`` (``https://hooks.example.org``): the URL is then that base plus the raw
path and query received. Without it, the URL is rebuilt from the request's scheme and ``Host``
header.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.trace import SpanKind, Status, StatusCode

from ...adapters.resilience import BreakerRegistry
from ...adapters.telemetry import TELEMETRY
from ...domain.errors import PayloadTooLarge
from ...domain.webhooks import Headers, WebhookRequest
from ...ports.outbox import Outbox
from ..services.outbox_health import DEFAULT_MAX_PENDING_AGE, outbox_counts
from ..services.webhook_failures import failed_events_health
from ..services.webhook_ingress import WebhookIngress, WebhookResponse
from .observability import record_outbox, render_metrics


if TYPE_CHECKING:
    from .console import ConsoleApp

__all__ = ["STANDALONE_PREFIX", "ASGIApp", "WebhookApp", "create_webhook_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("portico.webhooks.asgi")
_PROVIDER_NAME = r"/([a-z0-9][a-z0-9_-]{0,63})/?"
_HEALTH_ROUTES = frozenset({"/healthz", "/readyz", "/healthz/webhooks", "/healthz/outbox"})
# What `portico serve` puts before /{provider}, so its deliveries and /healthz share the root.
STANDALONE_PREFIX = "/webhooks"
_SECURITY_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
# Compact JSON; one encoder (`json.dumps` with options builds a new one per call).
_encode_json = json.JSONEncoder(separators=(",", ":")).encode


class HasWebhookIngress(Protocol):
    """A DI container (or anything) with a ``webhook_ingress`` provider."""

    @property
    def webhook_ingress(self) -> Callable[[], WebhookIngress]: ...


class _ClientGone(Exception):
    """The client disconnected before sending its whole body."""


class WebhookApp:
    """The ASGI callable; build it with `create_webhook_app`."""

    def __init__(
        self,
        ingress: WebhookIngress,
        *,
        public_base_url: str | None,
        max_body: int,
        outbox: Outbox | None = None,
        max_pending_age: float = DEFAULT_MAX_PENDING_AGE,
        prefix: str = "",
        metrics: bool = False,
        console: ConsoleApp | None = None,
        breakers: BreakerRegistry | None = None,
    ):
        self.ingress = ingress
        self.breakers = breakers
        self.metrics = metrics
        self.console = console
        self.prefix = _normalise_prefix(prefix)
        if not self.prefix and "healthz" in ingress.providers:
            raise ValueError("a provider named 'healthz' needs a prefix (its route is /healthz)")
        self._provider_route = re.compile(re.escape(self.prefix) + _PROVIDER_NAME)
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.max_body = max_body
        self.outbox = outbox
        self.max_pending_age = max_pending_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: lifespan events or an HTTP request."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            started: list[bool] = []

            async def tracking_send(message: Message) -> None:
                started.append(True)
                await send(message)

            try:
                await self._http(scope, receive, tracking_send)
            except _ClientGone:
                return
            except Exception as exc:  # noqa: BLE001 - never a traceback on the wire
                logger.error("webhook app: internal error (%s)", type(exc).__name__)
                if not started:
                    body = {"received": False, "error": "internal error; retry"}
                    await _send(send, WebhookResponse(500, body))
        # websocket and unknown scopes: not served; returning closes them.

    def counters(self, problems: list[str] | None = None) -> dict[str, object]:
        """The ``/healthz/webhooks`` body: counters, unknown-provider hits, recent failures."""
        return {
            "status": "unhealthy" if problems else "ok",
            **({"problems": problems} if problems else {}),
            "providers": self.ingress.snapshot(),
            "unknown_provider": self.ingress.unknown_provider,
            "recent_failures": self.ingress.recent_failures.snapshot(),
        }

    async def liveness(self) -> WebhookResponse:
        """The ``/healthz`` answer: ok, and the shared circuits (read when their view is due)."""
        breakers = self.breakers
        circuits = {} if breakers is None else breakers.shared_circuits()
        if not circuits or breakers is None:
            return WebhookResponse(200, {"status": "ok"})
        await breakers.refresh_shared(due_only=True)  # fail-fast client: never hangs liveness
        return WebhookResponse(200, {"status": "ok", "shared_breakers": breakers.shared_circuits()})

    async def readiness(self) -> WebhookResponse:
        """The ``/readyz`` answer: can this instance process deliveries now?"""
        problem = await self.ingress.check_store()
        if problem is None:
            return WebhookResponse(200, {"status": "ready"})
        return WebhookResponse(503, {"status": "unavailable", "problems": [problem]})

    async def webhooks_health(self) -> WebhookResponse:
        """The ``/healthz/webhooks`` answer: counters, and 503 "unhealthy" while not ready."""
        problem = await self.ingress.check_store()
        problems = [] if problem is None else [problem]
        health = {**self.counters(problems), **await failed_events_health(self.ingress)}
        return WebhookResponse(503 if problems else 200, health)

    async def outbox_health(self) -> WebhookResponse:
        """The ``/healthz/outbox`` answer: counts and verdict, 503 unreadable, 404 no outbox."""
        if self.outbox is None:
            return WebhookResponse(404, {"error": "no outbox configured for this app"})
        try:
            status = await self.outbox.status()
        except Exception as exc:  # noqa: BLE001 - a health check reports, never crashes
            logger.warning("outbox health: status failed (%s)", type(exc).__name__)
            return WebhookResponse(503, {"status": "unavailable", "error": type(exc).__name__})
        return WebhookResponse(200, outbox_counts(status, max_pending_age=self.max_pending_age))

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "GET")).upper()
        path = _route_path(scope)
        if self.console is not None and self.console.serves(path):
            await self.console(scope, receive, send, path)
            return
        if path in _HEALTH_ROUTES:
            if method not in {"GET", "HEAD"}:
                await _send(send, _not_allowed("GET"))
            elif path == "/healthz":
                await _send(send, await self.liveness())
            elif path == "/readyz":
                await _send(send, await self.readiness())
            elif path == "/healthz/outbox":
                await _send(send, await self.outbox_health())
            else:
                await _send(send, await self.webhooks_health())
            return
        if path == "/metrics" and self.metrics:
            if method not in {"GET", "HEAD"}:
                await _send(send, _not_allowed("GET"))
            else:
                await _send(send, await self._metrics())
            return
        match = self._provider_route.fullmatch(path)
        if match is None:
            await _send(send, WebhookResponse(404, {"error": "not found"}))
            return
        provider = match.group(1)
        if method == "GET":
            request = self._request(scope, method, Headers.from_wire(scope.get("headers", ())), b"")
            await _send(send, await self.ingress.handshake(provider, request))
            return
        if method != "POST":
            await _send(send, _not_allowed("GET, POST"))
            return
        headers = Headers.from_wire(scope.get("headers", ()))
        body = await _read_body(headers, receive, self.max_body)
        if body is None:
            too_large = PayloadTooLarge(
                f"body is over the {self.max_body}-byte limit", integration=provider
            )
            await _send(send, self.ingress.refuse(provider, too_large))
            return
        request = self._request(scope, method, headers, body)
        if not TELEMETRY.observing:
            await _send(send, await self.ingress.handle(provider, request))
            return
        await _send(send, await self._observed_delivery(provider, request))

    async def _observed_delivery(self, provider: str, request: WebhookRequest) -> WebhookResponse:
        """
        The delivery in a server span (its handlers' port calls are its children), its verdict
        as attributes and in ``portico.webhook.deliveries``; events' ids are never attributes.
        """
        attributes = {
            "http.request.method": "POST",
            "http.route": f"{self.prefix}/{{provider}}",
            "portico.webhook.provider": provider,
        }
        with TELEMETRY.span(
            f"POST {self.prefix}/{{provider}}", attributes, kind=SpanKind.SERVER
        ) as span:
            answer = await self.ingress.handle(provider, request)
            verdict, reason = _verdict(answer)
            if span is not None:
                span.set_attributes(
                    {
                        "http.response.status_code": answer.status,
                        "portico.webhook.verdict": verdict,
                        "portico.webhook.event_types": list(answer.event_types),
                    }
                )
                if reason:
                    span.set_attribute("portico.webhook.reason", reason)
                if answer.status >= 500:
                    span.set_status(Status(StatusCode.ERROR, verdict))
            if TELEMETRY.metering:
                TELEMETRY.deliveries.add(
                    1, {"portico.webhook.provider": provider, "portico.webhook.verdict": verdict}
                )
                duplicates = _duplicates(answer)
                if duplicates:
                    TELEMETRY.duplicates.add(duplicates, {"portico.webhook.provider": provider})
            return answer

    async def _metrics(self) -> WebhookResponse:
        """Prometheus text, the outbox gauges read from the store for this scrape."""
        if self.outbox is not None:
            try:
                record_outbox(await self.outbox.status())
            except Exception as exc:  # noqa: BLE001 - an unreadable outbox: its gauges go quiet
                logger.warning("metrics: outbox unreadable (%s)", type(exc).__name__)
                record_outbox(None)
        text = render_metrics()
        if text is None:
            return WebhookResponse(404, {"error": "metrics are not installed (portico[otel])"})
        return WebhookResponse(200, text.decode("utf-8"))

    def _request(self, scope: Scope, method: str, headers: Headers, body: bytes) -> WebhookRequest:
        return WebhookRequest(method, self._url(scope, headers), headers, body)

    def _url(self, scope: Scope, headers: Headers) -> str:
        raw_path = scope.get("raw_path") or _full_path(scope).encode("utf-8")
        target = raw_path.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            target = f"{target}?{query}"
        if self.public_base_url:
            return f"{self.public_base_url}{target}"
        scheme = scope.get("scheme", "http")
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}{target}"


def create_webhook_app(
    source: WebhookIngress | HasWebhookIngress,
    *,
    public_base_url: str | None = None,
    max_body: int | None = None,
    outbox: Outbox | None = None,
    max_pending_age: float = DEFAULT_MAX_PENDING_AGE,
    prefix: str = "",
    metrics: bool = False,
    console: ConsoleApp | None = None,
) -> WebhookApp:
    """
    The ASGI application serving ``source``'s webhook ingress.

    Args:
        source: a `WebhookIngress`, or the container (its ``webhook_ingress`` provider is called).
        public_base_url: the scheme and host providers call; defaults to the ingress's setting.
        max_body: body limit in bytes, enforced while streaming; defaults to the ingress's.
        outbox: counted by ``/healthz/outbox``; defaults to the container's ``outbox`` when
            ``source`` is a container (an ingress alone has none: the route answers 404).
        max_pending_age: seconds a command may wait pending before the outbox is "degraded".
        prefix: the path before ``/{provider}``, below the mount point: empty for a host that
            mounts the app (the mount point is the prefix), `STANDALONE_PREFIX` when the app is
            served alone at the root (``portico serve``). Health routes never take it.
        metrics: serve ``GET /metrics`` (Prometheus text, `observability.install_prometheus`);
            off for a host, whose own stack exports Portico's instruments.
        console: the operators' console (`app.entrypoints.console.create_console`), served at
            its ``console.path``; None (the default) serves none.

    Raises:
        ValueError: no ``prefix`` while a provider is named ``healthz``.
    """
    breakers: object = None
    if isinstance(source, WebhookIngress):
        ingress = source
    else:
        ingress = source.webhook_ingress()
        provider = getattr(source, "outbox", None)
        if outbox is None and callable(provider):
            outbox = provider()
        registry = getattr(source, "breakers", None)
        breakers = registry() if callable(registry) else None
    return WebhookApp(
        ingress,
        public_base_url=public_base_url or ingress.public_base_url,
        max_body=ingress.max_body if max_body is None else max_body,
        outbox=outbox,
        max_pending_age=max_pending_age,
        prefix=prefix,
        metrics=metrics,
        console=console,
        breakers=breakers if isinstance(breakers, BreakerRegistry) else None,
    )


def _normalise_prefix(prefix: str) -> str:
    """``"webhooks"``, ``"/webhooks/"`` -> ``"/webhooks"``; ``""`` and ``"/"`` -> ``""``."""
    stripped = prefix.strip("/")
    return f"/{stripped}" if stripped else ""


def _full_path(scope: Scope) -> str:
    path = str(scope.get("path", "/"))
    root = str(scope.get("root_path", ""))
    return path if not root or path.startswith(root) else f"{root}{path}"


def _route_path(scope: Scope) -> str:
    """The path below the mount point (Starlette keeps the full path and sets ``root_path``)."""
    path = _full_path(scope)
    root = str(scope.get("root_path", "")).rstrip("/")
    return (path[len(root) :] or "/") if root and path.startswith(root) else path


async def _read_body(headers: Headers, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it would exceed ``limit`` (never buffers more)."""
    for value in headers.get_all("content-length"):
        if value.strip().isdigit() and int(value) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = bytes(message.get("body", b""))  # (the same object when it is bytes already)
        size += len(chunk)
        if size > limit:
            return None
        if not message.get("more_body", False):
            # The usual case, the whole body in one message, is returned as it came.
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


def _verdict(answer: WebhookResponse) -> tuple[str, str | None]:
    """What became of a delivery, as a bounded label, and the refusal's reason if any."""
    body = answer.body if isinstance(answer.body, dict) else {}
    reason = body.get("error")
    reason = str(reason)[:120] if reason is not None else None
    if 400 <= answer.status < 500:
        return "rejected", reason
    if answer.status >= 500:
        return "retry", reason
    if body.get("failed"):
        return "failed", None
    if body.get("duplicate") or (body.get("duplicates") and not body.get("processed")):
        return "duplicate", None
    return "processed", None


def _duplicates(answer: WebhookResponse) -> int:
    body = answer.body if isinstance(answer.body, dict) else {}
    if body.get("duplicate"):
        return len(answer.event_types) or 1
    count = body.get("duplicates")
    return count if isinstance(count, int) else 0


def _not_allowed(allow: str) -> WebhookResponse:
    return WebhookResponse(405, {"error": "method not allowed"}, (("allow", allow),))


async def _send(send: Send, response: WebhookResponse) -> None:
    if isinstance(response.body, str):
        payload = response.body.encode("utf-8")
        content_type = b"text/plain; charset=utf-8"
    else:
        payload = _encode_json(response.body).encode("utf-8")
        content_type = b"application/json"
    headers = [
        (b"content-type", content_type),
        (b"content-length", b"%d" % len(payload)),
        *_SECURITY_HEADERS,
    ]
    if response.headers:
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
