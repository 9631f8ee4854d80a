"""
What every benchmark shares: the machine/version header, ratio lines and a uvicorn subprocess.

Absolute numbers drift on shared machines, so every report starts with `header` and states its
results as ratios against a peer measured in the same run. `uvicorn_process` serves an ASGI
factory in its own process so that the server and the measured client do not share a GIL.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


__all__ = ["ROOT", "header", "post_load", "ratio", "uvicorn_process"]

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(title: str, packages: Iterable[str] = ()) -> str:
    """The lines every report starts with: what ran, on what, with which versions."""
    names = ["portico", "httpx", *packages]
    versions = []
    for name in names:
        try:
            versions.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return "\n".join(
        [
            f"== {title}",
            f"machine: {_cpu_model()}, {os.cpu_count()} cpus, {platform.platform()}",
            f"python {platform.python_version()} ({platform.python_implementation()})",
            "versions: " + " ".join(versions),
        ]
    )


def ratio(label: str, ours: float, theirs: float, *, target: float | None = None) -> str:
    """``label: ours / theirs = r`` (both rates, higher is better), with the target verdict."""
    value = ours / theirs if theirs else float("inf")
    line = f"{label}: {ours:,.0f} / {theirs:,.0f} = {value:.2f}"
    if target is not None:
        line += f"  (target >= {target:g}: {'met' if value >= target else 'MISSED'})"
    return line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_process(factory: str, *, env: dict[str, str] | None = None) -> Iterator[str]:
    """
    Serve ``module:function`` (a factory returning an ASGI app) with uvicorn in a child process.

    Yields the base URL once the port accepts connections; the child is terminated on exit.
    """
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "off",
        "--http",
        "h11",
        "--loop",
        "asyncio",
        "--backlog",
        "4096",
    ]
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.Popen(command, cwd=ROOT, env=child_env)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                msg = f"uvicorn exited with {proc.returncode} before listening"
                raise RuntimeError(msg)
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                msg = "uvicorn did not listen within 20 s"
                raise RuntimeError(msg)
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def post_load(
    url: str, path: str, requests: list[tuple[bytes, dict[str, str]]], *, connections: int
) -> tuple[float, dict[int, int]]:
    """
    POST every ``(body, headers)`` over ``connections`` keep-alive HTTP/1.1 connections.

    A deliberately minimal client on asyncio streams, so that a server's requests/s is not
    capped by the client's own cost (httpx at concurrency 64 spends ~1 ms of CPU per request).
    Returns requests/s and the count of each status.
    """
    host, _, port = url.removeprefix("http://").partition(":")
    work = iter(requests)
    statuses: dict[int, int] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for body, headers in work:
                lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}"]
                lines += [f"{k}: {v}" for k, v in headers.items()]
                lines.append(f"content-length: {len(body)}")
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return len(requests) / (time.perf_counter() - started), statuses
