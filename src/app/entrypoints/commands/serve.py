"""
``portico serve``: the webhook endpoint on uvicorn, built from the container's configuration.

It serves the app alone at the root with `app.entrypoints.asgi.STANDALONE_PREFIX`:
``POST /webhooks/{provider}`` (and Meta's GET handshake there) and ``GET /healthz*``. A host that
mounts the app itself chooses the prefix by its mount point instead.

On the embedded defaults (environment ``fake``) it serves every provider with the published
development secrets of `app.wiring.webhooks.DEV_SECRETS` (each logged as a warning) and remembers
processed events in ``./portico-replay.sqlite3``. Any other environment demands real secrets.

Webhook handlers only enqueue their side effects (receipts, CRM notes) in the outbox, so the
server also runs the outbox relay in its event loop once it is up (`serve_app`): without one,
nothing would ever be delivered, and in the ``fake`` environment no other process could deliver
them (its in-memory fakes are its own). ``--no-relay`` leaves delivery to a separate
``portico relay`` (several servers may also each run one: the outbox leases every command to one
relay at a time).

With ``console.token`` set (``PORTICO_CONSOLE__TOKEN``) it also serves the operators' console at
``console.path`` (`app.entrypoints.console`), unless ``console.enabled`` is false.

Uvicorn's access log keeps method, path and status but never the query string (Meta's handshake
carries its verify token there: `app.entrypoints.access_log`). The ``server`` settings bound
every connection (`edge_config`, `app.entrypoints.http_protocol`): head and body deadlines,
keep-alive, a connection cap, head limits. On SIGTERM or Ctrl-C uvicorn stops accepting and waits
for open requests at most ``server.graceful_timeout`` seconds; then the relay finishes its batch
(at most ``server.relay_grace`` seconds), then the replay store, the outbox and the adapters'
HTTP clients are closed (`app.wiring.lifecycle.aclose_container`), even though uvicorn turns
Ctrl-C into a cancellation.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import attrs
import uvicorn

from ....adapters.telemetry import LogContext
from ...services.outbox_relay import OutboxRelay
from ...wiring.container import ConfigurationError, create_container
from ...wiring.lifecycle import aclose_container
from ...wiring.settings import ServerSettings, load_settings
from ...wiring.stores import describe
from ..access_log import install_access_log_filter
from ..asgi import STANDALONE_PREFIX, create_webhook_app
from ..console import console_wanted, create_console
from ..http_protocol import EdgeLimits, edge_protocol
from ..observability import install_prometheus


__all__ = ["RELAY_GRACE", "edge_config", "register", "run", "serve_app"]

logger = logging.getLogger("portico.serve")
RELAY_GRACE = ServerSettings().relay_grace  # seconds the relay may settle its batch at shutdown
_STARTUP_POLL = 0.05  # seconds between looks at uvicorn's ``started`` flag


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico serve``."""
    parser = subparsers.add_parser("serve", help="serve the webhook endpoint with uvicorn")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    parser.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--no-relay",
        action="store_true",
        help="do not deliver the outbox in this process (run `portico relay` separately)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the ingress, bind, print where it listens, serve until interrupted."""
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(levelname)s %(name)s [%(correlation_id)s %(trace_id)s]: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(LogContext())
    try:
        settings = load_settings(
            {"config_file": args.config} if args.config else None, env=os.environ
        )
        if settings.is_fake and settings.data_dir is None:
            # The fakes start empty on every run, so the stores must too: a replay store that
            # remembered the last run's events would answer the new fakes' events as duplicates.
            settings = attrs.evolve(settings, data_dir=Path(tempfile.mkdtemp(prefix="portico-")))
        container = create_container(settings=settings)
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico serve: {exc}\n")
        return 1
    if not container.settings().webhooks.providers:
        sys.stderr.write(
            "portico serve: no webhook provider is configured: add one's secret "
            "(e.g. PORTICO_WEBHOOKS__STRIPE__SECRET)\n"
        )
        return 1
    try:
        ingress = container.webhook_ingress()
        # Alone at the root: deliveries under /webhooks/{provider}, health at /healthz*.
        metrics = install_prometheus(container.breakers().snapshot)
        relay: OutboxRelay | None = None if args.no_relay else container.relay()
        console = (
            create_console(container, ingress=ingress)
            if console_wanted(container, default=True)
            else None
        )
        app = create_webhook_app(
            ingress,
            outbox=container.outbox(),
            prefix=STANDALONE_PREFIX,
            metrics=metrics,
            console=console,
        )
        sock = socket.create_server((args.host, args.port))
    except (ConfigurationError, ValueError, OSError) as exc:
        asyncio.run(aclose_container(container))
        if isinstance(exc, OSError):
            sys.stderr.write(f"portico serve: cannot listen on {args.host}:{args.port} ({exc})\n")
        else:
            sys.stderr.write(f"portico serve: {exc}\n")
        return 1
    # asyncio sets TCP_NODELAY only on sockets it created itself; without it every answer waits
    # ~40 ms for a delayed ACK (measured: 45 ms -> 1.8 ms per request). Accepted sockets inherit it.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    host, port = sock.getsockname()[:2]
    base = f"http://{host}:{port}"
    sys.stdout.write(
        f"Portico webhooks listening on {base}\n"
        + "".join(f"  POST {base}{app.prefix}/{name}\n" for name in ingress.providers)
        + f"  GET  {base}/healthz\n"
        + f"  GET  {base}/healthz/webhooks\n"
        + f"  GET  {base}/healthz/outbox\n"
        + (f"  GET  {base}/metrics\n" if metrics else "")
        + (f"  GET  {base}{console.path}/  (operators' console)\n" if console else "")
        + _relay_line(relay, container.environment())
        + f"Data directory: {settings.data_dir or '.'}\n"
    )
    sys.stdout.flush()
    config = edge_config(app, settings.server, log_level=args.log_level)
    install_access_log_filter()  # after Config, which (re)configures uvicorn's loggers
    # Ctrl-C: uvicorn already shut down cleanly. SIGTERM: see `_sigterm_shuts_down`.
    with contextlib.suppress(KeyboardInterrupt), _sigterm_shuts_down():
        asyncio.run(
            serve_app(
                uvicorn.Server(config),
                sock,
                container,
                relay=relay,
                relay_grace=settings.server.relay_grace,
            )
        )
    return 0


@contextlib.contextmanager
def _sigterm_shuts_down() -> Iterator[None]:
    """
    Keep SIGTERM from killing the process before the relay is stopped and the stores closed.

    Uvicorn handles SIGTERM while it serves, then, once it has stopped serving, restores the
    previous handler and raises the signal again: with the default handler the process would die
    right there, relay still running, leases held, stores open. This handler is the one restored,
    so that second SIGTERM (and any later one, while the relay settles within its grace) only logs;
    `serve_app` then finishes the shutdown and the command exits 0.
    """

    def shutting_down(_signum: int, _frame: FrameType | None) -> None:
        logger.info("SIGTERM: shutting down (relay, then stores)")

    previous = signal.signal(signal.SIGTERM, shutting_down)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def edge_config(app: Any, server: ServerSettings, *, log_level: str = "info") -> uvicorn.Config:
    """
    Uvicorn's configuration for ``app`` with the ``server`` section's limits (ARCHITECTURE.md
    names which knob guards what): uvicorn's own where it has one, `EdgeProtocol` for the rest.
    """
    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        server_header=False,
        http=edge_protocol(EdgeLimits.of(server)),
        ws="none",  # the webhook app serves no websocket: an upgrade is a plain request
        timeout_keep_alive=server.keep_alive_timeout,
        # Uvicorn answers 503 once its limit is reached counting the asking connection: +1
        # serves max_connections at once.
        limit_concurrency=server.max_connections + 1,
        timeout_graceful_shutdown=server.graceful_timeout,
        h11_max_incomplete_event_size=server.max_head_bytes,
        backlog=server.backlog,
    )


def _relay_line(relay: OutboxRelay | None, environment: str) -> str:
    if relay is not None:
        return "Outbox relay: running in this process (receipts, notes, retries)\n"
    if environment == "fake":
        return (
            "Outbox relay: OFF (--no-relay); in the fake environment no other process can "
            "deliver this server's outbox: receipts and notes will stay pending\n"
        )
    return "Outbox relay: off (--no-relay); run `portico relay` to deliver the outbox\n"


async def serve_app(
    server: uvicorn.Server,
    sock: socket.socket,
    container: Any,
    *,
    relay: OutboxRelay | None,
    closing: Sequence[object] = (),
    relay_grace: float = RELAY_GRACE,
) -> None:
    """
    Serve on ``sock`` until uvicorn exits, with ``relay`` delivering the outbox meanwhile.

    The relay starts once the server is up. On shutdown uvicorn stops accepting, waits for open
    requests (at most its ``timeout_graceful_shutdown``, then cancels them) and returns; only
    then is the relay told to stop claiming and given ``relay_grace`` seconds to settle its
    batch before it is cancelled (a cancelled send keeps its lease, which expires: the outbox
    then resends or dead-letters it by its usual rule, so nothing is lost). The container and
    ``closing`` are closed last, whatever happened.
    """
    stop = asyncio.Event()
    task = None
    if relay is not None:
        task = asyncio.create_task(_relay_when_up(server, relay, stop), name="portico-relay")
        task.add_done_callback(_report_relay_failure)
    try:
        await server.serve(sockets=[sock])
    finally:
        await _to_the_end(_shutdown(task, stop, relay, container, closing, sock, relay_grace))


async def _relay_when_up(server: uvicorn.Server, relay: OutboxRelay, stop: asyncio.Event) -> None:
    while not server.started:  # uvicorn has no startup event to await
        if stop.is_set() or server.should_exit:
            return
        await asyncio.sleep(_STARTUP_POLL)
    logger.info("outbox relay: started (%s)", describe(relay.outbox))
    await relay.run(stop=stop)


def _report_relay_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The server keeps answering: webhooks are still recorded; the outbox keeps them.
        logger.error("outbox relay: stopped by %s", type(task.exception()).__name__)


async def _shutdown(
    task: asyncio.Task[None] | None,
    stop: asyncio.Event,
    relay: OutboxRelay | None,
    container: Any,
    closing: Sequence[object],
    sock: socket.socket,
    grace: float,
) -> None:
    stop.set()
    if task is not None:
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            logger.warning("outbox relay: still busy after %gs; cancelled", grace)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if relay is not None:
        stats = relay.stats
        sys.stderr.write(
            f"portico serve: relay stopped: delivered {stats.delivered}, retried "
            f"{stats.retried}, dead {stats.dead}, paused {stats.paused}\n"
        )
    await aclose_container(container, *closing)
    sock.close()


async def _to_the_end(work: Awaitable[None]) -> None:
    """
    Await ``work`` to completion even if this task is cancelled meanwhile: uvicorn re-raises the
    Ctrl-C it handled, which ``asyncio.run`` turns into a cancellation of the main task; a second
    Ctrl-C still interrupts (asyncio raises KeyboardInterrupt for it).
    """
    task = asyncio.ensure_future(work)
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(task)
    task.result()
