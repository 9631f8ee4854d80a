"""
The console in a real browser: Debian's Chromium driven by Playwright against a real
``portico serve`` process whose vendors are simulators on real sockets, faults injected.

Why Playwright over Selenium: one ``pip install`` gives the driver and its protocol client
(Chromium's DevTools protocol over a pipe), with no chromedriver to match to the browser's
version; its locators wait for what they look for (no sleeps), and a page's request context shares
the browser's cookies, which the CSRF check below needs. It drives the system Chromium through
``executable_path``: ``playwright install`` (a downloaded browser build) is never run.

The run: log in with the token; an inbound WhatsApp message fails for good (HubSpot answers 400
once) and is listed, then replayed; a text to a patient whose 24-hour window is closed becomes a
dead letter with Meta's reason, and an outage (every WhatsApp call 503) opens the circuit; a POST
without the CSRF token is refused 403; once the vendor is back and the patient has written, the
operator requeues the dead letter and watches it delivered, then forces the breaker open for a
minute and releases it; the action log lists it all. Screenshots of each view go to the
test's ``tmp_path`` and are copied to ``.artifacts/console/`` (ignored by git).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import IN_CI
from tests.simulators.faults import FaultInjector, FaultPlan
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.server import serve
from tests.simulators.whatsapp import WhatsAppSimulator

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.webhooks.signers import sign_meta
from portico.domain.commands import SendMessage
from portico.domain.messaging import TextMessage


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-console-token-2f9c"
APP_SECRET = "browser-test-meta-app-secret"
PHONE_ID = "106540352242922"
CLOSED = "40712345678"  # the patient whose window is closed: the dead letter
OTHER = "40722111222"  # the patient written to during the outage
INBOUND = "40733999888"  # the patient whose message fails at HubSpot, then is replayed
ARTIFACTS = Path(__file__).resolve().parents[3] / ".artifacts" / "console"
WAIT_MS = 20_000


def _playwright() -> Any:
    """Playwright's sync API, or skip (fail under CI=true) when it or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        what = "the playwright package (pip install -e '.[dev]')"
    else:
        if CHROMIUM.exists():
            return sync_playwright
        what = "Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true and is not available")
    pytest.skip(f"{what} not available")


def _config(tmp_path: Path, whatsapp: str, hubspot: str) -> Path:
    config = {
        "environment": "sandbox",
        "data_dir": str(tmp_path / "data"),
        "messaging": {"provider": "whatsapp"},
        "crm": {"provider": "hubspot"},
        "whatsapp": {"token": "EAAG-test-token", "phone_number_id": PHONE_ID, "base_url": whatsapp},
        "hubspot": {"token": "pat-na1-simulated", "base_url": hubspot},
        "webhooks": {"whatsapp": {"app_secret": APP_SECRET, "verify_token": "browser-verify"}},
        "console": {"token": TOKEN},
        # One attempt per send, the circuit opens after two failures and probes after 2 s.
        "resilience": {
            "whatsapp": {"retry_attempts": 1, "failure_threshold": 2, "reset_timeout": 2},
            "hubspot": {"retry_attempts": 1},
        },
    }
    (tmp_path / "data").mkdir()
    path = tmp_path / "portico.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def _portico_serve(config: Path) -> Iterator[str]:
    """``portico serve --config`` as a process; yields its base URL; stops it with SIGINT."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "portico.app.entrypoints.cli", "serve", "--port", "0",
         "--config", str(config), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        assert lines[0].startswith("Portico webhooks listening on http://"), lines[0] + (
            proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        )
        while lines[-1] and not lines[-1].startswith("Data directory:"):
            lines.append(proc.stdout.readline())
        assert any("/console/" in line for line in lines), lines
        yield lines[0].rsplit(" ", 1)[1].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert TOKEN not in stderr
    assert APP_SECRET not in stderr


def _enqueue(outbox_path: Path, to: str, text: str) -> str:
    """A text to ``to`` in the server's outbox (the same SQLite file, another process)."""

    async def enqueue() -> str:
        outbox = SqliteOutbox(outbox_path)
        try:
            return await outbox.enqueue(SendMessage(TextMessage(to=f"+{to}", body=text)))
        finally:
            await outbox.close()

    # Playwright's sync API keeps an event loop on this thread: run the enqueue on another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, enqueue()).result()


def _inbound(message_id: str) -> tuple[bytes, dict[str, str]]:
    """Meta's signed "messages" webhook: one text from ``INBOUND``."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Ana Popescu"}, "wa_id": INBOUND}],
        "messages": [
            {
                "from": INBOUND,
                "id": message_id,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": "Hello, I would like an appointment"},
            }
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }
    raw = json.dumps(body).encode()
    return raw, {"content-type": "application/json", **sign_meta(raw, APP_SECRET)}


def _sent_to(sim: WhatsAppSimulator, digits: str) -> int:
    return sum(1 for m in sim.messages.values() if m.to == digits)


def test_operator_logs_in_sees_faults_and_repairs_them(tmp_path):
    """Login, failed event replayed, dead letter and open circuit seen, requeued, delivered."""
    sync_playwright = _playwright()
    started = time.monotonic()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    whatsapp = WhatsAppSimulator()
    hubspot = HubSpotSimulator()
    wa_faults = FaultInjector(whatsapp)
    hs_faults = FaultInjector(hubspot)
    with ExitStack() as stack:
        wa_url = stack.enter_context(serve(wa_faults))
        hs_url = stack.enter_context(serve(hs_faults))
        base = stack.enter_context(_portico_serve(_config(tmp_path, wa_url, hs_url)))
        console = f"{base}/console"
        outbox_path = tmp_path / "data" / "portico-outbox.sandbox.sqlite3"
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        page = browser.new_page(viewport={"width": 420, "height": 900})  # a phone's width
        page.set_default_timeout(WAIT_MS)

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

        # -- nothing without the token
        assert page.goto(f"{console}/outbox").status == 401
        assert page.locator("input[name=token]").count() == 1
        shot("01-login")
        page.fill("input[name=operator]", "Ana on call")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(f"{console}/")
        assert page.locator("h2", has_text="Quality gate").count() == 1
        shot("02-report")

        # -- a webhook event a handler refuses for good (HubSpot 400), then replayed
        hs_faults.fail_next(400)
        body, headers = _inbound("wamid.BROWSER-1")
        answer = page.request.post(f"{base}/webhooks/whatsapp", data=body, headers=headers)
        assert answer.status == 200, answer.text()
        page.goto(f"{console}/webhooks")
        card = page.locator("article.card", has_text="MessageReceived")
        assert card.count() == 1
        assert INBOUND not in page.content()  # the sender's number is never shown
        shot("03-failed-webhook")
        card.locator("button", has_text="Replay").click()
        page.locator(".flash.ok", has_text="processed").wait_for()
        assert page.locator("text=no failed webhook events").count() == 1
        assert any(c["properties"].get("phone") for c in hubspot.objects["contacts"].values())

        # -- a dead letter (Meta refuses: window closed), then an outage opens the circuit
        whatsapp.close_window(CLOSED)
        dead_id = _enqueue(outbox_path, CLOSED, "Your results are ready")
        page.goto(f"{console}/outbox")
        deadline = time.monotonic() + WAIT_MS / 1000
        while dead_id not in page.content():
            assert time.monotonic() < deadline, "no dead letter appeared"
            time.sleep(0.3)
            page.reload()
        assert "131047" in page.content() or "Re-engagement" in page.content()
        assert "results are ready" not in page.content()  # never a body
        wa_faults.configure(FaultPlan(unavailable=1.0))
        _enqueue(outbox_path, OTHER, "See you tomorrow at 10")
        page.goto(f"{console}/breakers")
        breaker = page.locator("#breaker-whatsapp")
        deadline = time.monotonic() + WAIT_MS / 1000
        while "OPEN" not in breaker.inner_text():
            assert time.monotonic() < deadline, "the circuit did not open"
            time.sleep(0.3)
            page.reload()
        shot("04-breaker-open")
        page.goto(f"{console}/outbox")
        shot("05-outbox-dead-letter")
        page.goto(f"{console}/")
        assert page.locator(".gate.bad").count() == 1
        shot("06-report-failing")

        # -- an action without the CSRF token is refused (the browser's own session cookie)
        refused = page.request.post(
            f"{console}/outbox/requeue",
            form={"id": dead_id},
            headers={"origin": base},
        )
        assert refused.status == 403
        forged = page.request.post(
            f"{console}/outbox/requeue", form={"id": dead_id, "csrf": "forged"}
        )
        assert forged.status == 403

        # -- the vendor is back and the patient wrote: requeue, and watch it delivered
        wa_faults.configure(FaultPlan())
        whatsapp.open_window(CLOSED)
        page.goto(f"{console}/outbox")
        page.locator("article.card", has_text=dead_id).locator("button", has_text="Requeue").click()
        page.locator(".flash.ok", has_text="requeued").wait_for()
        deadline = time.monotonic() + WAIT_MS / 1000
        while _sent_to(whatsapp, CLOSED) == 0 or "Dead letters (0)" not in page.content():
            assert time.monotonic() < deadline, "the requeued letter was not delivered"
            time.sleep(0.3)
            page.reload()
        assert _sent_to(whatsapp, OTHER) >= 1 or "pending" in page.content()
        shot("07-outbox-delivered")
        # -- force the breaker open for a minute, then release it, from its card
        page.goto(f"{console}/breakers")
        card = page.locator("#breaker-whatsapp")
        card.locator("select[name=mode]").select_option("open")
        card.locator("input[name=minutes]").fill("1")
        card.locator("button", has_text="Apply").click()
        page.locator(".flash.ok", has_text="forced open for 60s").wait_for()
        assert "FORCED OPEN" in page.locator("#breaker-whatsapp").inner_text()
        shot("08-breaker-forced")
        page.locator("#breaker-whatsapp button", has_text="Release").click()
        page.locator(".flash.ok", has_text="released").wait_for()
        assert "FORCED" not in page.locator("#breaker-whatsapp").inner_text()
        page.goto(f"{console}/actions")
        log = page.content()
        assert "Ana on call (token " in log
        assert "requeue" in log
        assert "replay" in log
        assert TOKEN not in log
        shot("09-action-log")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    for picture in shots.iterdir():
        shutil.copy2(picture, ARTIFACTS / picture.name)
    took = time.monotonic() - started
    print(f"console screenshots: {shots} (copied to {ARTIFACTS}); {took:.1f}s")  # noqa: T201 - for the reviewer
