"""
The HTTP edge of ``portico serve`` on real sockets against a real server process: head and body
deadlines, keep-alive, head limits, ambiguous framing, the connection cap, memory under stalled
clients and a bounded SIGTERM (issue 13). Deadlines are short here (``PORTICO_SERVER__*``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
import uvicorn

from portico.app.entrypoints.asgi import STANDALONE_PREFIX, create_webhook_app
from portico.app.entrypoints.commands.serve import edge_config, serve_app
from portico.app.services.relay_settings import RelaySettings
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import ServerSettings, load_settings
from portico.domain.commands import CreatePaymentIntent
from portico.domain.outbox import EntryState
from portico.domain.payments import PaymentRequest
from portico.domain.time import utc_now
from portico.domain.values import IdempotencyKey, Money
from portico.testing import FakeClock


MARGIN = 10.0  # seconds: generous, for a loaded CI machine; deadlines below are under 2 s
# Lower bounds (0.25 s) only show a connection is not closed at once: timers start server-side.


@attrs.frozen
class Server:
    """A running ``portico serve`` process and where it listens."""

    proc: subprocess.Popen[str]
    port: int
    stderr: Path

    def connect(self) -> socket.socket:
        """A new TCP connection to the server (reads time out after MARGIN seconds)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=MARGIN)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS in /proc), in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")


@contextmanager
def _serve(workdir: Path, **server: object) -> Iterator[Server]:
    """``portico serve --port 0`` with ``server.<name>`` settings from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env.update({f"PORTICO_SERVER__{name.upper()}": str(value) for name, value in server.items()})
    stderr = workdir / "stderr.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "portico.app.entrypoints.cli", "serve", "--port", "0"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Portico webhooks listening on http://127.0.0.1:"), first
        line = first
        while line and not line.startswith("Data directory:"):
            line = proc.stdout.readline()
        yield Server(proc, int(first.rsplit(":", 1)[1]), stderr)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


def _closed_after(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _get(path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: portico.test\r\n\r\n".encode()


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, read from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def _stalled_body(sock: socket.socket, sent: int, declared: int = 1_000_000) -> None:
    """A delivery whose client stops after ``sent`` bytes of a ``declared``-byte body."""
    head = (
        "POST /webhooks/stripe HTTP/1.1\r\nHost: portico.test\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + b"x" * sent)


@pytest.fixture(scope="module", name="server")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with short deadlines for the tests that do not stop it."""
    workdir = tmp_path_factory.mktemp("edge")
    with _serve(
        workdir,
        header_timeout=0.5,
        body_timeout=0.5,
        keep_alive_timeout=1,
        max_connections=400,
    ) as running:
        yield running


class TestDeadlines:
    """Slow or idle clients are closed; none keeps a connection (or its body) for long."""

    def test_a_head_dripped_byte_by_byte_is_closed_after_the_head_deadline(
        self, server: Server
    ) -> None:
        """A client sending a header line every 0.1 s is cut off: the deadline is not reset."""
        with server.connect() as sock:
            sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\n")
            sock.settimeout(0.1)
            started = time.monotonic()
            closed = False
            while not closed and time.monotonic() - started < MARGIN:
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                    closed = sock.recv(65536) == b""
                except TimeoutError:
                    continue
                except OSError:  # reset: the server closed with our header lines unread
                    closed = True
            assert closed
            assert 0.25 < time.monotonic() - started < MARGIN

    def test_a_connection_that_sends_nothing_is_closed_after_the_head_deadline(
        self, server: Server
    ) -> None:
        """No byte at all: uvicorn would keep it forever; the head deadline closes it."""
        with server.connect() as sock:
            received, took = _closed_after(sock)
        assert received == b""
        assert 0.25 < took < MARGIN

    def test_a_body_that_stalls_is_answered_408_after_the_body_deadline(
        self, server: Server
    ) -> None:
        """Head complete, 100 bytes of a declared 1 MB: 408 with Connection: close, then EOF."""
        with server.connect() as sock:
            _stalled_body(sock, sent=100)
            received, took = _closed_after(sock)
        assert _status(received) == 408
        assert b"connection: close" in received.lower()
        assert 0.25 < took < MARGIN

    def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(
        self, server: Server
    ) -> None:
        """After a 200, a connection that sends nothing more is closed by uvicorn's timer."""
        with server.connect() as sock:
            sock.sendall(_get())
            assert _status(_read_response(sock)) == 200
            received, took = _closed_after(sock)
        assert received == b""
        assert 0.25 < took < MARGIN

    def test_a_chunked_body_that_stalls_is_answered_408(self, server: Server) -> None:
        """The body deadline holds for chunked framing too: one chunk, then nothing."""
        request = (
            b"POST /webhooks/stripe HTTP/1.1\r\nHost: portico.test\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n'
        )
        with server.connect() as sock:
            sock.sendall(request)
            received, took = _closed_after(sock)
        assert _status(received) == 408
        assert 0.25 < took < MARGIN

    def test_pipelined_requests_in_one_write_are_all_served(self, server: Server) -> None:
        """Two requests sent back to back (the second closes): both answered 200."""
        last = _get("/readyz").replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        with server.connect() as sock:
            sock.sendall(_get() + last)
            received, _ = _closed_after(sock)
        assert received.count(b"HTTP/1.1 200 OK\r\n") == 2

    def test_a_keep_alive_connection_serves_a_second_request_in_time(self, server: Server) -> None:
        """The deadlines leave a well-behaved client alone: two requests on one connection."""
        with server.connect() as sock:
            for _ in range(2):
                sock.sendall(_get())
                assert _status(_read_response(sock)) == 200
                time.sleep(0.3)


class TestHeadLimits:
    """The head is limited however it arrives; ambiguous framing is refused."""

    def test_five_thousand_headers_in_one_write_are_refused_431(self, server: Server) -> None:
        """h11 alone accepts them when they arrive complete; the edge answers 431."""
        head = "".join(f"X-H{i}: v\r\n" for i in range(5000))
        with server.connect() as sock:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: portico.test\r\n{head}\r\n".encode())
            received, _ = _closed_after(sock)
        assert _status(received) == 431

    def test_too_many_small_headers_are_refused_431(self, server: Server) -> None:
        """101 header fields (under 2 KB, so one read): over the 100-field default."""
        head = "".join(f"X-{i}: v\r\n" for i in range(100))
        with server.connect() as sock:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: portico.test\r\n{head}\r\n".encode())
            received, _ = _closed_after(sock)
        assert _status(received) == 431

    def test_one_oversized_header_in_one_write_is_refused_431(self, server: Server) -> None:
        """A 20,000-byte field is over the 16 KiB head limit, complete or not."""
        with server.connect() as sock:
            sock.sendall(_get().replace(b"\r\n\r\n", b"\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"))
            received, _ = _closed_after(sock)
        assert _status(received) == 431

    def test_a_head_within_the_limits_is_served(self, server: Server) -> None:
        """99 short fields and a 10 KB one are under both limits: 200."""
        head = "".join(f"X-{i}: v\r\n" for i in range(98)) + "X-Big: " + "a" * 10_000 + "\r\n"
        with server.connect() as sock:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: portico.test\r\n{head}\r\n".encode())
            assert _status(_read_response(sock)) == 200

    def test_content_length_with_transfer_encoding_is_refused_400(self, server: Server) -> None:
        """RFC 9112 section 6.3: both framings at once is a smuggling attempt, never guessed."""
        request = (
            b"POST /webhooks/stripe HTTP/1.1\r\nHost: portico.test\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        with server.connect() as sock:
            sock.sendall(request)
            received, _ = _closed_after(sock)
        assert _status(received) == 400
        assert b"connection: close" in received.lower()


def _stall_and_wait(server: Server, clients: int, sent: int) -> list[int]:
    """``clients`` connections stalled after ``sent`` body bytes; the status each is answered."""
    socks = [server.connect() for _ in range(clients)]
    try:
        for sock in socks:
            _stalled_body(sock, sent=sent)
        return [_status(_closed_after(sock)[0]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def test_stalled_clients_are_all_answered_and_memory_stays_bounded(server: Server) -> None:
    """
    Three waves of 150 clients stalled mid-body (256 KiB each, 37.5 MiB a wave) all get 408, and
    the RSS after each stays within what the allocator may keep of one wave: nothing piles up.
    """
    before = server.rss_kib()
    after = []
    for _ in range(3):
        assert _stall_and_wait(server, 150, 256 * 1024) == [408] * 150
        after.append(server.rss_kib())
    sys.stdout.write(f"\nserver RSS (KiB): {before} before, {after} after each wave of 150\n")
    assert max(after) < before + 96 * 1024


def test_a_request_beyond_the_connection_cap_is_answered_503(tmp_path: Path) -> None:
    """Three open connections are served; a fourth connection's request gets 503."""
    with _serve(tmp_path, max_connections=3, header_timeout=5, keep_alive_timeout=5) as server:
        held = [server.connect() for _ in range(3)]
        try:
            for sock in held:
                sock.sendall(_get())
                assert _status(_read_response(sock)) == 200
            with server.connect() as extra:
                extra.sendall(_get())
                received, _ = _closed_after(extra)
            assert _status(received) == 503
            held.pop().close()
            deadline = time.monotonic() + MARGIN
            while True:  # the server sees the close a moment later
                with server.connect() as again:
                    again.sendall(_get())
                    if _status(_read_response(again)) == 200:
                        break
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            for sock in held:
                sock.close()


def test_sigterm_with_stalled_clients_exits_after_the_graceful_deadline(tmp_path: Path) -> None:
    """A client mid-body and one mid-head cannot hold SIGTERM: exit 0 in about a second."""
    with (
        _serve(
            tmp_path, header_timeout=60, body_timeout=60, graceful_timeout=1, relay_grace=2
        ) as server,
        server.connect() as stalled,
        server.connect() as slow_head,
    ):
        _stalled_body(stalled, sent=10)
        slow_head.sendall(b"POST /webhooks/stripe HTTP/1.1\r\n")
        time.sleep(0.2)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        returncode = server.proc.wait(timeout=1 + 2 + MARGIN)
        took = time.monotonic() - started
    log = server.stderr.read_text()
    sys.stdout.write(f"\nSIGTERM to exit: {took:.2f} s\n")
    assert returncode == 0, log
    assert "relay stopped: delivered" in log  # the relay was stopped, the stores closed
    assert took < 1 + 2 + MARGIN


async def test_shutdown_past_the_deadline_keeps_the_relays_command_deliverable(
    tmp_path: Path,
) -> None:
    """
    The relay is mid-send (a 60 s vendor) and a client is stalled mid-body when the server is
    told to exit: serve_app returns after the graceful deadline and the relay's grace, and the
    command it held is neither delivered nor dead but still leased, so once the lease expires a
    relay takes it over and delivers it (it is deduped by its key at the vendor).
    """
    config = {
        "environment": "fake",
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
        "webhooks": {"replay": {"kind": "sqlite", "path": str(tmp_path / "replay.sqlite3")}},
        "server": {"graceful_timeout": 1, "relay_grace": 0.5, "body_timeout": 60},
    }
    container = create_container(config, env={})
    payments = container.fake_payments()
    payments.faults.add_latency(60, operation="create_payment_intent")
    request = PaymentRequest(Money(5000, "EUR"), "consult", "pat1", IdempotencyKey("edge-1"))
    entry_id = await container.outbox().enqueue(CreatePaymentIntent(request))
    settings = container.settings()
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_webhook_app(container, prefix=STANDALONE_PREFIX)
    server = uvicorn.Server(edge_config(app, settings.server, log_level="warning"))
    relay = container.relay(settings=RelaySettings(idle_delay=0.01))
    serving = asyncio.create_task(
        serve_app(server, sock, container, relay=relay, relay_grace=settings.server.relay_grace)
    )
    while not payments.faults.calls_to("create_payment_intent"):  # the relay is sending
        assert not serving.done()
        await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: portico.test\r\nContent-Length: 1000\r\n\r\n{"
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    server.should_exit = True  # what uvicorn's SIGTERM handler does
    await asyncio.wait_for(serving, timeout=1 + 0.5 + MARGIN)
    took = time.monotonic() - started
    answer = await asyncio.wait_for(reader.read(), timeout=MARGIN)
    writer.close()
    assert took < 1 + 0.5 + MARGIN
    assert answer == b"" or _status(answer) == 500  # cancelled by the graceful deadline

    lease = settings.outbox.lease_seconds
    later = FakeClock(start=utc_now() + timedelta(seconds=lease + 1))
    successor = create_container(config, env={}, clock=later)
    try:
        held = await successor.outbox().get(entry_id)
        assert held is not None
        assert (held.state, held.attempts) == (EntryState.PENDING, 1)
        assert held.lease_until is not None
        await successor.relay().run(until_idle=True)
        delivered = await successor.outbox().get(entry_id)
        assert delivered is not None
        assert delivered.state is EntryState.DELIVERED
    finally:
        await aclose_container(successor)


class TestSettings:
    """The ``server`` section: defaults, and every bad value named at once at start-up."""

    def test_defaults_are_the_documented_ones(self) -> None:
        """Ten-second deadlines, uvicorn's keep-alive, 100 fields in 16 KiB."""
        server = load_settings({}, env={}).server
        assert server == ServerSettings()
        assert (server.header_timeout, server.body_timeout, server.keep_alive_timeout) == (
            10.0,
            10.0,
            5,
        )
        assert (server.max_headers, server.max_head_bytes) == (100, 16384)

    def test_environment_variables_set_the_section(self) -> None:
        """``PORTICO_SERVER__BODY_TIMEOUT=2.5`` is ``server.body_timeout``."""
        env = {"PORTICO_SERVER__BODY_TIMEOUT": "2.5", "PORTICO_SERVER__MAX_CONNECTIONS": "7"}
        server = load_settings({}, env=env).server
        assert (server.body_timeout, server.max_connections) == (2.5, 7)

    def test_every_value_out_of_range_is_listed(self) -> None:
        """A zero deadline, an hour-long one, no connections and a tiny head fail together."""
        config = {
            "server": {
                "header_timeout": 0,
                "body_timeout": 7200,
                "max_connections": 0,
                "max_head_bytes": 100,
            }
        }
        with pytest.raises(ConfigurationError) as caught:
            load_settings(config, env={})
        assert caught.value.problems == (
            "server.header_timeout: must be above 0 and at most 3600 seconds "
            "(PORTICO_SERVER__HEADER_TIMEOUT)",
            "server.body_timeout: must be above 0 and at most 3600 seconds "
            "(PORTICO_SERVER__BODY_TIMEOUT)",
            "server.max_connections: must be at least 1 (PORTICO_SERVER__MAX_CONNECTIONS)",
            "server.max_head_bytes: must be at least 1024 bytes (PORTICO_SERVER__MAX_HEAD_BYTES)",
        )

    def test_uvicorn_timeouts_take_whole_seconds(self) -> None:
        """Uvicorn's keep-alive and graceful timeouts are integers: 0.5 is named, not rounded."""
        env = {"PORTICO_SERVER__KEEP_ALIVE_TIMEOUT": "0.5", "PORTICO_SERVER__BACKLOG": "x"}
        with pytest.raises(ConfigurationError) as caught:
            load_settings({}, env=env)
        assert "server.keep_alive_timeout: must be an integer" in str(caught.value)
        assert "server.backlog: must be an integer" in str(caught.value)
