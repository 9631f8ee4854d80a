"""Permanent handler failures are recorded durably, replayable once, and never leak patient data."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from portico.adapters.failed_events.memory import MemoryFailedEventLog
from portico.adapters.failed_events.sqlite import SQLiteFailedEventLog
from portico.adapters.fakes import FakeClock
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_failures import safe_reason
from portico.app.services.webhook_replay import ReplayOutcome, replay_failed
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import build_failed_event_log
from portico.app.wiring.webhooks import build_webhook_ingress
from portico.domain.errors import ConfigurationError, Conflict, InvalidValue, NotFound, Unavailable
from portico.domain.events import DomainEvent
from portico.domain.failed_events import FailedEvent
from portico.domain.webhooks import WebhookRequest

from .ingress_doubles import Paid, make_ingress, signed


PATIENT = "Jane Doe +15551234567 jane@example.org"
SECRETS = ("Jane", "5551234567", "jane@")


def _delivery(event_id: str) -> WebhookRequest:
    """A signed delivery whose body carries patient data next to the event."""
    return signed({"events": [{"id": event_id, "type": "paid", "amount": 100}], "who": PATIENT})


class _Settle:
    """A handler that refuses for good until fixed, counting its successful runs."""

    def __init__(self, error: Exception) -> None:
        self.error: Exception | None = error
        self.processed: list[str] = []

    async def __call__(self, event: Paid) -> None:
        """Fail with the configured error, or process the event."""
        if self.error is not None:
            raise self.error
        self.processed.append(event.event_id)


def _clean(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


async def test_permanent_failure_survives_reopening_the_sqlite_log(tmp_path: Path, caplog) -> None:
    """A permanent failure is on disk, with its delivery, after the log is closed and reopened."""
    path = tmp_path / "failed.sqlite3"
    clock = FakeClock(datetime.fromtimestamp(1000, UTC))
    log = SQLiteFailedEventLog(path, clock=clock)
    ingress = make_ingress(failed_log=log, clock=clock)
    ingress.on(Paid, _Settle(NotFound(f"no contact {PATIENT}", integration="crm")))
    request = _delivery("evt_1")
    with caplog.at_level(logging.DEBUG):
        response = await ingress.handle("test", request)
    await log.close()
    assert (response.status, response.body) == (200, {"received": True, "failed": True})

    async with SQLiteFailedEventLog(path) as reopened:
        record = await reopened.get("test:evt_1")
        assert await reopened.count() == 1
    assert record is not None
    assert (record.provider, record.event_id, record.event_type) == ("test", "evt_1", "Paid")
    assert (record.error, record.attempts, record.first_failed_at) == ("NotFound", 1, 1000.0)
    assert record.reason == "NotFound from crm"
    assert "_Settle" in record.handler
    assert record.body == request.body
    assert record.url == request.url
    assert _clean(repr(record))
    assert _clean(str(record.summary()))
    assert _clean(caplog.text)


async def test_replay_after_fixing_the_cause_processes_it_once(tmp_path: Path) -> None:
    """Replayed after the fix, the event is handled once and resolved; concurrent replays agree."""
    log = SQLiteFailedEventLog(tmp_path / "failed.sqlite3")
    ingress = make_ingress(failed_log=log)
    settle = _Settle(Conflict("deal already closed", integration="crm"))
    ingress.on(Paid, settle)
    await ingress.handle("test", _delivery("evt_7"))
    settle.error = None  # the operator fixed the cause

    results = await asyncio.gather(*(replay_failed(ingress, log, "test:evt_7") for _ in range(3)))
    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes.count("processed") == 1
    assert settle.processed == ["evt_7"]
    again = await replay_failed(ingress, log, "test:evt_7")
    assert again.outcome is ReplayOutcome.ALREADY_RESOLVED
    redelivered = await ingress.handle("test", _delivery("evt_7"))
    assert redelivered.body == {"received": True, "duplicate": True}
    assert settle.processed == ["evt_7"]
    assert await log.count() == 0
    assert (await log.list(resolved=True))[0].resolved
    await log.close()


async def test_replay_failing_again_adds_an_attempt_and_transient_leaves_it() -> None:
    """A permanent failure on replay counts an attempt; a transient one changes nothing."""
    log = MemoryFailedEventLog()
    ingress = make_ingress(failed_log=log)
    settle = _Settle(InvalidValue("contact", PATIENT))
    ingress.on(Paid, settle)
    await ingress.handle("test", _delivery("evt_2"))

    failed = await replay_failed(ingress, log, "test:evt_2")
    assert failed.outcome is ReplayOutcome.FAILED_AGAIN
    assert failed.record is not None
    assert failed.record.attempts == 2
    assert failed.detail == "InvalidValue: field 'contact' refused"
    settle.error = Unavailable("down", integration="crm")
    later = await replay_failed(ingress, log, "test:evt_2")
    assert (later.outcome, later.detail) == (ReplayOutcome.RETRY_LATER, "Unavailable")
    stored = await log.get("test:evt_2")
    assert stored is not None
    assert (stored.attempts, stored.resolved) == (2, False)
    missing = await replay_failed(ingress, log, "test:nope")
    assert missing.outcome is ReplayOutcome.NOT_FOUND


class _BrokenLog(MemoryFailedEventLog):
    """A log whose disk is gone."""

    async def record(self, event: FailedEvent) -> FailedEvent:
        """Fail like a full disk."""
        raise OSError("disk full")


async def test_unrecordable_failure_is_released_for_the_providers_retry() -> None:
    """If the failure cannot be recorded, the answer is 500 and the redelivery is processed."""
    ingress = make_ingress(failed_log=_BrokenLog())
    settle = _Settle(NotFound("gone", integration="crm"))
    ingress.on(Paid, settle)
    first = await ingress.handle("test", _delivery("evt_3"))
    settle.error = None
    retry = await ingress.handle("test", _delivery("evt_3"))
    assert (first.status, retry.status) == (500, 200)
    assert settle.processed == ["evt_3"]


async def test_memory_log_is_bounded_and_evicts_resolved_first() -> None:
    """Over its bound the memory log drops resolved records before unresolved ones."""
    log = MemoryFailedEventLog(max_entries=2)
    base: dict[str, Any] = {"event_type": "Paid", "handler": "h", "error": "E", "reason": "E"}
    for n in range(2):
        await log.record(
            FailedEvent(provider="p", event_id=str(n), first_failed_at=n, last_failed_at=n, **base)
        )
    assert await log.resolve("p:1")
    await log.record(
        FailedEvent(provider="p", event_id="2", first_failed_at=5, last_failed_at=5, **base)
    )
    assert [e.id for e in await log.list(resolved=True)] == ["p:2", "p:0"]
    assert log.evicted == 1


async def test_healthz_webhooks_shows_the_failed_event_count() -> None:
    """GET /healthz/webhooks reports how many failed events are unresolved."""
    log = MemoryFailedEventLog()
    ingress = make_ingress(failed_log=log)

    async def refuses(_event: DomainEvent) -> None:
        raise InvalidValue("contact", PATIENT)

    ingress.on(Paid, refuses)
    await ingress.handle("test", _delivery("evt_4"))
    transport = httpx.ASGITransport(app=create_webhook_app(ingress))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/healthz/webhooks")).json()
    assert body["failed_events"] == 1
    assert _clean(str(body))


def test_safe_reason_never_quotes_the_message() -> None:
    """Reasons are built from types, fields and vendor codes, not from messages."""
    error = NotFound(
        PATIENT, integration="hubspot", vendor_code="OBJECT_NOT_FOUND", status_code=404
    )
    assert safe_reason(error) == "NotFound from hubspot, status 404, code OBJECT_NOT_FOUND"
    assert safe_reason(RuntimeError(PATIENT)) == "RuntimeError"


def _log(webhooks: object, **config: object):
    return build_failed_event_log(load_settings({"webhooks": webhooks, **config}, env={}))


def test_wiring_defaults_follow_the_data_dir_and_the_replay_store(tmp_path: Path) -> None:
    """Memory in fake without data_dir or with memory replay; else an SQLite file by environment."""
    assert isinstance(_log(None), MemoryFailedEventLog)
    assert isinstance(_log({"replay": "memory"}), MemoryFailedEventLog)
    assert isinstance(_log({"failed_events": "memory"}), MemoryFailedEventLog)
    in_dir = _log(None, data_dir=str(tmp_path))
    assert isinstance(in_dir, SQLiteFailedEventLog)
    assert in_dir.path == str(tmp_path / "portico-failed-events.fake.sqlite3")
    with_memory_replay = _log({"replay": "memory"}, data_dir=str(tmp_path))
    assert isinstance(with_memory_replay, MemoryFailedEventLog)
    with pytest.raises(ConfigurationError, match=r"webhooks\.failed_events\.kind"):
        _log({"failed_events": {"kind": "etcd"}})
    with pytest.raises(ConfigurationError, match=r"webhooks\.failed_events\.kind: must be memory"):
        _log({"failed_events": {"kind": "redis", "url": "redis://localhost"}})
    ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
    assert isinstance(ingress.failed_log, MemoryFailedEventLog)


def test_a_configured_location_is_an_sqlite_log(tmp_path: Path) -> None:
    """Beside an SQLite replay file, or at failed_events.path, even with a memory replay store."""
    replay = str(tmp_path / "replay.sqlite3")
    beside = _log({"replay": {"kind": "sqlite", "path": replay}})
    assert isinstance(beside, SQLiteFailedEventLog)
    assert beside.path == str(tmp_path / "portico-failed-events.sqlite3")
    chosen = _log({"replay": "memory", "failed_events": {"path": "x.db"}})
    assert isinstance(chosen, SQLiteFailedEventLog)
    assert chosen.path == "x.db"
