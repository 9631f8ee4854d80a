"""
The webhook ingress's counters as a report, in this process or read from a running server.

Counters live in the process that serves the webhooks (``portico serve``, or the host's ASGI
server). ``portico health`` runs in another process, so it reads them from that server's
``GET /healthz/webhooks`` (`fetch_webhook_counters`); a host serving in-process renders its own
ingress's ``snapshot()`` directly.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import httpx

from ..services.audit_state import WebhookCounts
from ..services.webhook_ingress import WebhookIngress


__all__ = [
    "COUNTERS_PATH",
    "WebhookHealth",
    "fetch_webhook_counters",
    "fetch_webhook_health",
    "rows_from_snapshot",
]

COUNTERS_PATH = "/healthz/webhooks"
_COUNTS = (
    "received",
    "processed",
    "duplicates",
    "unknown_types",
    "handler_failures",
    "store_failures",
)
_MAX_PROVIDERS = 64  # a server that answers more is not a Portico ingress


@attrs.frozen
class WebhookHealth:
    """A server's ``/healthz/webhooks``: its rows, and why it cannot take deliveries (if so)."""

    rows: list[WebhookCounts]
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, ingress: WebhookIngress) -> WebhookHealth:
        """The counters of an ingress served in this process (for the audit report)."""
        return cls(rows_from_snapshot(ingress.snapshot()))


def _problems(document: Mapping[str, object]) -> tuple[str, ...]:
    """The server's own reasons when its status is not "ok" (bounded, printable)."""
    status = document.get("status")
    if status == "ok":
        return ()
    listed = document.get("problems")
    reasons = (
        [str(p)[:200] for p in listed[:10] if isinstance(p, str)]
        if isinstance(listed, list)
        else []
    )
    return tuple(reasons) or (f"status is {str(status)[:40]!r}",)


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where} must be a non-negative integer")
    return value


def _row(name: str, counters: object) -> WebhookCounts:
    if not isinstance(counters, Mapping):
        raise ValueError(f"providers.{name[:40]} must be an object")
    counts = {key: _count(counters.get(key, 0), f"providers.{name}.{key}") for key in _COUNTS}
    rejected = counters.get("rejected", {})
    if not isinstance(rejected, Mapping):
        raise ValueError(f"providers.{name}.rejected must be an object")
    total = sum(_count(n, f"providers.{name}.rejected") for n in rejected.values())
    return WebhookCounts(
        provider=name,
        rejected=total,
        last_received_age=_seconds(counters.get("last_received_age_seconds"), name),
        counting_for=_seconds(counters.get("counting_for_seconds"), name),
        **counts,
    )


def _seconds(value: object, name: str) -> float | None:
    """An optional age (absent from an older server's document: None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e12:
        raise ValueError(f"providers.{name[:40]} has an age that is not a number of seconds")
    return float(value)


def rows_from_snapshot(snapshot: Mapping[str, object]) -> list[WebhookCounts]:
    """
    Rows from ``WebhookIngress.snapshot()`` or the ``providers`` of ``/healthz/webhooks``.

    Raises:
        ValueError: the mapping is not shaped like a snapshot (names the offending field).
    """
    if len(snapshot) > _MAX_PROVIDERS:
        raise ValueError(f"providers has more than {_MAX_PROVIDERS} entries")
    rows = []
    for name, counters in sorted(snapshot.items()):
        if not name.isascii() or not 0 < len(name) <= 64:
            raise ValueError("providers has a key that is not a provider name")
        rows.append(_row(name, counters))
    return rows


async def fetch_webhook_counters(
    server: str, *, timeout_s: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
) -> list[WebhookCounts]:
    """
    Read a running server's counters from ``{server}/healthz/webhooks``.

    Raises:
        ValueError: as `fetch_webhook_health`.
    """
    health = await fetch_webhook_health(server, timeout_s=timeout_s, transport=transport)
    return health.rows


async def fetch_webhook_health(
    server: str, *, timeout_s: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
) -> WebhookHealth:
    """
    Read a running server's counters and verdict from ``{server}/healthz/webhooks``.

    A 503 carrying the counters document is the server saying "unhealthy" (its replay store
    cannot be used): its ``problems`` come back in `WebhookHealth.problems`.

    Raises:
        ValueError: the server could not be reached, did not answer 200 or 503, or answered
            something that is not a counters document (the message says which, never the body).
    """
    url = server.rstrip("/") + COUNTERS_PATH
    try:
        async with httpx.AsyncClient(timeout=timeout_s, transport=transport) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot reach {url} ({type(exc).__name__})") from None
    if response.status_code not in (httpx.codes.OK, httpx.codes.SERVICE_UNAVAILABLE):
        raise ValueError(f"{url} answered HTTP {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise ValueError(f"{url} did not answer JSON") from None
    providers = document.get("providers") if isinstance(document, Mapping) else None
    if not isinstance(providers, Mapping):
        if response.status_code != httpx.codes.OK:
            raise ValueError(f"{url} answered HTTP {response.status_code}")
        raise ValueError(f"{url}: providers is missing or not an object")
    problems = _problems(document)
    if response.status_code != httpx.codes.OK and not problems:
        problems = (f"answered HTTP {response.status_code}",)
    return WebhookHealth(rows_from_snapshot(providers), problems)
