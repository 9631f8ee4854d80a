"""Suite-wide fixtures: hypothesis profiles and real Redis / PostgreSQL servers."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings


# No test depends on wall-clock speed: deadlines are off everywhere. CI runs more examples,
# derandomized so a red build is reproducible.
settings.register_profile(
    "dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=150,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true and is not available")
    pytest.skip(f"{what} not available")


def _wait_for_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def private_redis(*options: str) -> Iterator[str | None]:
    """
    A private redis-server on a free port (``options`` added to its command line), its URL;
    None when there is no redis-server binary. No RDB snapshots; AOF off unless ``options``
    say ``--appendonly yes``.
    """
    binary = shutil.which("redis-server")
    if not binary:
        yield None
        return
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="portico-redis-")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", workdir, *options]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not _wait_for_port(port):
            _missing("a private redis-server (it did not start)")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """
    A private redis-server on a free port when the binary exists, else ``PORTICO_REDIS_URL``.

    Under CI=true a missing Redis fails the test instead of skipping it.
    """
    with private_redis() as url:
        if url is not None:
            yield url
            return
    url = os.environ.get("PORTICO_REDIS_URL")
    if not url:
        _missing("Redis (no redis-server binary and no PORTICO_REDIS_URL)")
    assert url is not None
    yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """
    A fresh PostgreSQL database for this session, dropped afterwards.

    The server comes from ``PORTICO_POSTGRES_URL`` (default: the machine's local server on
    127.0.0.1:5432 as user postgres). Under CI=true an unreachable server fails the test.
    """
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dev dependency
        _missing("psycopg")
        raise
    admin = os.environ.get("PORTICO_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"portico_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        _missing(f"PostgreSQL at {admin.split('@')[-1]}")
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
