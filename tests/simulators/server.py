"""
Serve any ASGI app with uvicorn on a real loopback socket, in a background thread.

Chaos tests and benchmarks need the bytes to cross a real TCP connection (keep-alive, resets,
read timeouts), not ``httpx.ASGITransport``. The socket is bound before the server starts, so
there is no race for the port; shutdown goes through uvicorn's ``should_exit``, so in-flight
requests finish and the thread ends cleanly.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


__all__ = ["serve"]


@contextmanager
def serve(
    app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 10.0, **config: Any
) -> Iterator[str]:
    """
    Run ``app`` under uvicorn on ``host`` and a free port; yield its base URL (``http://h:p``).

    Args:
        app: an ASGI 3 application (a simulator, a fault wrapper, the webhook app).
        startup_timeout: seconds to wait for uvicorn to listen before failing.
        config: extra `uvicorn.Config` options (``timeout_keep_alive``, ``limit_concurrency``).

    Raises:
        RuntimeError: the server did not start (its thread died or the timeout passed).
    """
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # proto says TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    options: dict[str, Any] = {
        "log_level": logging.WARNING,
        "access_log": False,
        "lifespan": "off",
        "loop": "asyncio",
        "http": "h11",
        "backlog": 4096,
    }
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                msg = f"uvicorn did not start on {host}:{port}"
                raise RuntimeError(msg)
            time.sleep(0.005)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
