"""A Redis server a test may stop and start again (the session's `redis_url` stays up)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.conftest import _missing, _wait_for_port, free_port


class RestartableRedis:
    """A private redis-server on a fixed port: `stop` kills it, `start` brings it back empty."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="portico-redis-restart-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (no persistence) and wait until it listens."""
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not _wait_for_port(self.port):
            _missing("a restartable redis-server (it did not start)")

    def stop(self) -> None:
        """Kill the server and wait for it to exit."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    """A redis-server of this test only, started; stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server (the binary; a test stops and restarts it)")
    assert binary is not None
    server = RestartableRedis(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
