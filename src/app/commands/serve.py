"""
``portico serve``: the webhook endpoint on uvicorn, built from the container's configuration.

On the embedded defaults (environment ``fake``) it serves every provider with the published
development secrets of `app.webhooks_wiring.DEV_SECRETS` (each logged as a warning) and remembers
processed events in ``./portico-replay.sqlite3``. Any other environment demands real secrets.

Uvicorn's access log keeps method, path and status but never the query string (Meta's handshake
carries its verify token there: `app.access_log`). On shutdown the replay store, the outbox and the
adapters' HTTP clients are closed (`app.lifecycle.aclose_container`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
from typing import Any

import uvicorn

from app.access_log import install_access_log_filter
from app.asgi import create_webhook_app
from app.container import ConfigurationError, create_container
from app.lifecycle import aclose_container


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico serve``."""
    parser = subparsers.add_parser("serve", help="serve the webhook endpoint with uvicorn")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    parser.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the ingress, bind, print where it listens, serve until interrupted."""
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        container = create_container({"config_file": args.config} if args.config else None)
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico serve: {exc}\n")
        return 1
    try:
        ingress = container.webhook_ingress()
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
        + "".join(f"  POST {base}/webhooks/{name}\n" for name in ingress.providers)
        + f"  GET  {base}/healthz\n"
    )
    sys.stdout.flush()
    config = uvicorn.Config(
        create_webhook_app(ingress),
        log_level=args.log_level,
        lifespan="on",
        server_header=False,
    )
    install_access_log_filter()  # after Config, which (re)configures uvicorn's loggers
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn already shut down cleanly
        asyncio.run(_serve(uvicorn.Server(config), sock, container, ingress.replay_store))
    return 0


async def _serve(
    server: uvicorn.Server, sock: socket.socket, container: Any, *extra: object
) -> None:
    try:
        await server.serve(sockets=[sock])
    finally:
        await aclose_container(container, *extra)
        sock.close()
