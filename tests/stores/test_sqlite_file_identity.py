"""
A SQLite store whose file is removed or replaced while open fails loudly instead of writing on.

On POSIX the open descriptor keeps a deleted file writable: before this check every delivery was
answered 200 while its dedup key went into a file no restart would ever see.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from portico.adapters.failed_events.sqlite import SQLiteFailedEventLog
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.domain.commands import SendMessage
from portico.domain.errors import Unavailable
from portico.domain.failed_events import FailedEvent
from portico.domain.messaging import TemplateMessage
from portico.domain.webhooks import ClaimOutcome
from tests.webhooks.ingress.ingress_doubles import delivery, make_ingress


def _remove_file(db: Path) -> None:
    for path in db.parent.glob(db.name + "*"):  # the database, its -wal and -shm
        path.unlink()


def _remove_folder(db: Path) -> None:
    shutil.rmtree(db.parent)


def _replace_file(db: Path) -> None:
    copy = db.with_name("copy.sqlite3")
    shutil.copyfile(db, copy)
    copy.replace(db)  # a restore from backup: same name, another file


LOSSES: dict[str, Callable[[Path], None]] = {
    "file_removed": _remove_file,
    "folder_removed": _remove_folder,
    "file_replaced": _replace_file,
}


@pytest.mark.parametrize("lose", list(LOSSES.values()), ids=list(LOSSES))
async def test_the_next_claim_after_the_file_is_lost_is_unavailable(
    tmp_path: Path, lose: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    """Removed, removed with its folder, or replaced: every later call raises, logged once."""
    db = tmp_path / "data" / "replay.sqlite3"
    db.parent.mkdir()
    async with SQLiteReplayStore(db) as store:
        first = await store.claim("stripe:evt_1", lease_seconds=60)
        await store.complete(first)
        lose(db)
        with caplog.at_level(logging.ERROR, logger="portico.sqlite"):
            for _ in range(3):
                with pytest.raises(Unavailable) as raised:
                    await store.claim("stripe:evt_2", lease_seconds=60)
        assert raised.value.integration == "replay_store"
        assert raised.value.request_sent is False
        assert raised.type is Unavailable
    lost = [r for r in caplog.records if "refusing every call" in r.getMessage()]
    assert len(lost) == 1
    assert str(db) in lost[0].getMessage()


async def test_the_store_works_again_once_its_file_is_back(tmp_path: Path) -> None:
    """A folder moved away and back (the same file): calls fail meanwhile, then work, state kept."""
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "replay.sqlite3"
    async with SQLiteReplayStore(db) as store:
        await store.complete(await store.claim("k", lease_seconds=60))
        folder.rename(tmp_path / "elsewhere")
        with pytest.raises(Unavailable, match="removed with its directory"):
            await store.claim("k", lease_seconds=60)
        (tmp_path / "elsewhere").rename(folder)
        again = await store.claim("k", lease_seconds=60)
    assert again.outcome is ClaimOutcome.DUPLICATE


async def test_a_delivery_is_503_once_the_replay_file_is_gone(tmp_path: Path) -> None:
    """Through the ingress: 200 while the file is there, then 503, counted and reported."""
    db = tmp_path / "replay.sqlite3"
    async with SQLiteReplayStore(db) as store:
        ingress = make_ingress(replay_store=store)
        assert (await ingress.handle("test", delivery("e1"))).status == 200
        _remove_file(db)
        answer = await ingress.handle("test", delivery("e2"))
        assert answer.status == 503
        assert ingress.counters("test").store_failures == 1
        assert await ingress.check_store() == "replay store unavailable (Unavailable)"


async def test_the_outbox_refuses_to_enqueue_into_a_removed_file(tmp_path: Path) -> None:
    """The outbox shares the worker: an enqueue after the file went raises `Unavailable`."""
    db = tmp_path / "outbox.sqlite3"
    command = SendMessage(TemplateMessage("+40712345678", "reminder"))
    outbox = SqliteOutbox(db)
    try:
        await outbox.enqueue(command)
        _remove_file(db)
        with pytest.raises(Unavailable) as raised:
            await outbox.status()
        assert raised.value.integration == "outbox"
    finally:
        await outbox.close()


async def test_the_failed_event_log_refuses_a_replaced_file(tmp_path: Path) -> None:
    """The failed-event log shares the worker too."""
    db = tmp_path / "failed.sqlite3"
    async with SQLiteFailedEventLog(db) as log:
        assert await log.count() == 0
        _replace_file(db)
        with pytest.raises(Unavailable) as raised:
            await log.record(_failure())
    assert raised.value.integration == "failed_events"


def _failure() -> FailedEvent:
    return FailedEvent(
        provider="stripe",
        event_id="evt_1",
        event_type="PaymentSucceeded",
        handler="h",
        error="InvalidRequest",
        reason="refused",
        first_failed_at=1.0,
        last_failed_at=1.0,
        attempts=1,
        url="https://example.invalid/webhooks/stripe",
        content_type="application/json",
        body=b"{}",
    )
