"""
The clinic served as in production: ``uvicorn app.main:api`` in its own process, on a free
loopback port, started from the clinic's folder (so ``app`` is the clinic's package), spoken to
over real HTTP, then stopped as a process manager stops it (SIGINT).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .stripe_events import payment_succeeded, signed


CLINIC = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0  # seconds for uvicorn to import the app and run its lifespan start-up
PORT_ATTEMPTS = 3  # a free port found now may be taken before uvicorn binds it
# Meta's subscription check, with the fake environment's published verify token.
META_HANDSHAKE = {
    "hub.mode": "subscribe",
    "hub.verify_token": "portico-dev-token",
    "hub.challenge": "1158201444",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(proc: subprocess.Popen[bytes], base: str) -> bool:
    """True once the mounted webhook app answers; False if uvicorn exited first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{base}/webhooks/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"uvicorn did not answer within {START_TIMEOUT:.0f}s")


@contextmanager
def _uvicorn(workdir: Path) -> Iterator[tuple[str, Path]]:
    """``uvicorn app.main:api`` on 127.0.0.1; yields its base URL and its log file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env["PORTICO_OUTBOX__PATH"] = str(workdir / "outbox.sqlite3")
    env["PORTICO_WEBHOOKS__REPLAY__PATH"] = str(workdir / "replay.sqlite3")
    log = workdir / "uvicorn.log"
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        command = [sys.executable, "-m", "uvicorn", "app.main:api", "--host", "127.0.0.1"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=CLINIC,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            up = _wait_until_up(proc, base)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if up:
            break
        if b"address already in use" not in log.read_bytes().lower():
            raise AssertionError(f"uvicorn exited at start-up:\n{log.read_text()}")
    else:
        raise AssertionError(f"no free port after {PORT_ATTEMPTS} attempts")
    try:
        yield base, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert proc.returncode == 0, log.read_text()


def test_served_clinic_takes_leads_and_accepts_only_signed_webhooks(tmp_path: Path) -> None:
    """Over HTTP: a lead, signed and forged Stripe events, Meta's handshake (token never logged)."""
    body = payment_succeeded("pi_unknown_1", amount_minor=100, currency="RON", event_id="evt_s1")
    with _uvicorn(tmp_path) as (base, log), httpx.Client(base_url=base, timeout=10) as http:
        lead = http.post("/leads", json={"phone": "+40712345678", "message": "Hello"})
        assert lead.status_code == 201, lead.text
        # An intent this Stripe account never made: acknowledged (never retried), nothing moved.
        first = http.post("/webhooks/stripe", content=body, headers=signed(body))
        again = http.post("/webhooks/stripe", content=body, headers=signed(body))
        forged = http.post("/webhooks/stripe", content=body, headers=signed(body, "whsec_x"))
        unsigned = http.post("/webhooks/stripe", content=body)
        handshake = http.get("/webhooks/whatsapp", params=META_HANDSHAKE)
        counters = http.get("/webhooks/healthz/webhooks").json()["providers"]["stripe"]
    assert first.status_code == 200
    assert first.json()["processed"] == 1
    assert again.json() == {"received": True, "duplicate": True}
    assert forged.status_code == 401
    assert forged.json()["received"] is False
    assert "signature" in forged.json()["error"].lower()
    assert 400 <= unsigned.status_code < 500
    assert unsigned.json()["error"]
    assert (counters["processed"], counters["duplicates"]) == (1, 1)
    assert handshake.text == META_HANDSHAKE["hub.challenge"]
    logged = log.read_text()
    assert "Application startup complete" in logged
    assert "Application shutdown complete" in logged
    assert "Traceback" not in logged
    assert '"GET /webhooks/whatsapp HTTP/1.1" 200' in logged
    assert META_HANDSHAKE["hub.verify_token"] not in logged
