"""
A container's lifetime: `lifespan` for a host, and closing what a container opened (the
adapters' HTTP clients, the outbox, the replay store).

`create_container` resolves the selected adapters at start-up; the outbox and the replay store are
singletons whose constructors open nothing (their connections are made on first use), so resolving
them here to close them costs nothing when they were never used. Whatever has an ``aclose`` (httpx
clients, the vendor adapters) or ``close`` (stores) is closed once, in reverse order of opening;
one failing close is logged by type and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from ...adapters.telemetry import TELEMETRY
from ...ports.execute import PORTS


__all__ = ["CLOSABLE_PROVIDERS", "Lifespan", "aclose_container", "aclose_objects", "lifespan"]

logger = logging.getLogger("portico.lifecycle")

# The container's singletons that may hold a connection, a file, a thread or an HTTP client.
CLOSABLE_PROVIDERS = (
    *(f"{port}_adapter" for port in PORTS),
    "outbox",
    "replay_store",
    "status_store",
    "failed_event_log",
    "breaker_control_store",
    "operator_action_log",
    "shared_redis",
)


async def aclose_container(container: Any, *extra: object) -> int:
    """
    Close the container's closable singletons and ``extra`` objects; returns how many closed.

    Safe to call twice and on a container whose adapters are fakes (nothing to close).
    """
    found: list[object] = []
    for name in CLOSABLE_PROVIDERS:
        provider = getattr(container, name, None)
        if provider is None:
            continue
        try:
            found.append(provider())
        except Exception as exc:  # noqa: BLE001 - a provider that cannot build holds nothing open
            logger.debug("not closing %s: it cannot be built (%s)", name, type(exc).__name__)
    return await aclose_objects([*found, *extra])


async def aclose_objects(objects: Iterable[object]) -> int:
    """Close each distinct object once (``aclose`` preferred over ``close``), last first."""
    seen: set[int] = set()
    unique = []
    for obj in objects:
        if obj is not None and id(obj) not in seen:
            seen.add(id(obj))
            unique.append(obj)
    closed = 0
    for obj in reversed(unique):
        close = getattr(obj, "aclose", None) or getattr(obj, "close", None)
        if not callable(close):
            continue
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
            closed += 1
        except Exception as exc:  # noqa: BLE001 - shutting down: close the rest regardless
            logger.warning("closing %s failed (%s)", type(obj).__name__, type(exc).__name__)
    return closed


class Lifespan:
    """
    Portico's lifetime inside a host: `lifespan` builds one; see there.

    Use it as ``async with lifespan(container) as container:`` or hand it to FastAPI /
    Starlette as ``lifespan=``: they call it with the host app and enter what it returns, a
    context that yields no lifespan state (Starlette would merge a yielded container into each
    request's ``state``, and fails when it is not a mapping).
    """

    def __init__(self, container: Any, *, relay: bool, grace: float) -> None:
        if grace <= 0:
            raise ValueError("grace: must be a positive number of seconds")
        self.container = container
        self.run_relay = relay
        self.grace = grace
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, app: object = None) -> contextlib.AbstractAsyncContextManager[None]:
        """FastAPI / Starlette call ``lifespan(app)``; the host app is not needed."""
        return self._hosted()

    @contextlib.asynccontextmanager
    async def _hosted(self) -> AsyncIterator[None]:
        async with self:
            yield

    @property
    def relay_task(self) -> asyncio.Task[None] | None:
        """The running relay, while inside the context (None with ``relay=False``)."""
        return self._task

    async def __aenter__(self) -> Any:
        """Look for an OpenTelemetry SDK, open the stores, start the relay; return the container."""
        self._stop.clear()
        TELEMETRY.refresh()  # a host's SDK set up after the container was built is used at once
        try:
            # Opening the stores now makes a bad path or an unreachable server fail here, at the
            # host's start-up, and not at the first webhook.
            await self.container.outbox().status()
            if self.run_relay:
                relay = self.container.relay()
                self._task = asyncio.create_task(relay.run(stop=self._stop), name="portico-relay")
                self._task.add_done_callback(_report_relay_end)
        except BaseException:
            await aclose_container(self.container)
            raise
        return self.container

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the relay (cancelled after ``grace`` seconds), then close everything."""
        self._stop.set()
        task, self._task = self._task, None
        try:
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=self.grace)
                if not done:
                    logger.warning("outbox relay: still busy after %.0fs; cancelled", self.grace)
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        finally:
            await aclose_container(self.container)


def lifespan(container: Any, *, relay: bool = True, grace: float = 30.0) -> Lifespan:
    """
    Run Portico for as long as the host runs: the outbox relay in the background, a clean close.

    On entry the outbox is opened (a bad store fails the host's start-up) and, unless
    ``relay=False`` (a separate ``portico relay`` process delivers the outbox), the relay starts
    delivering what the services and webhook handlers enqueued (receipts, CRM moves, retries).
    On exit the relay is asked to stop, given ``grace`` seconds to settle its batch (a command
    it could not settle is retried by the next relay after its lease), and every store and HTTP
    client the container opened is closed.

    ::

        container = portico.create_container()
        api = FastAPI(lifespan=portico.lifespan(container))
        api.mount("/webhooks", portico.create_webhook_app(container))
    """
    return Lifespan(container, relay=relay, grace=grace)


def _report_relay_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # Webhooks are still recorded and the outbox keeps every command for the next relay.
        logger.error("outbox relay: stopped by %s", type(task.exception()).__name__)
