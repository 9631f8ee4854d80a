"""One contract over every `DeliveryStatusStore` (memory, SQLite, Redis), then what only some do."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from portico.adapters.fakes import FakeClock
from portico.adapters.whatsapp.status_log import (
    DeliveryStatusLog,
    MemoryDeliveryStatusStore,
    advances,
)
from portico.adapters.whatsapp.status_redis import RedisDeliveryStatusStore
from portico.adapters.whatsapp.status_sqlite import SQLiteDeliveryStatusStore
from portico.domain.messaging import DeliveryStatus
from portico.ports.delivery_status import DeliveryStatusStore, TextFallbackStore


Q, S, D, R, F = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.FAILED,
)
StoreFactory = Callable[[], AbstractAsyncContextManager[DeliveryStatusStore]]


@pytest.fixture(name="make_store", params=["memory", "sqlite", "redis"])
def _make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens the store under test; every SQLite / Redis instance shares one file / namespace."""
    kind = request.param
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = f"test:status:{secrets.token_hex(4)}:"
    shared = MemoryDeliveryStatusStore()

    @asynccontextmanager
    async def open_store() -> AsyncIterator[DeliveryStatusStore]:
        if kind == "memory":
            yield shared
        elif kind == "sqlite":
            async with SQLiteDeliveryStatusStore(tmp_path / "status.sqlite3") as store:
                yield store
        else:
            async with RedisDeliveryStatusStore(url, prefix=prefix) as store:
                yield store

    return open_store


def _expected(reports: tuple[DeliveryStatus, ...]) -> DeliveryStatus:
    """The status the forward-only rule leaves after ``reports`` in this order."""
    current: DeliveryStatus | None = None
    for status in reports:
        if current is None or advances(current, status):
            current = status
    assert current is not None
    return current


async def test_an_unknown_message_is_none(make_store: StoreFactory) -> None:
    """A message id never recorded reads as None, not an error."""
    async with make_store() as store:
        assert await store.get("wamid.NEVER") is None


async def test_statuses_only_move_forward(make_store: StoreFactory) -> None:
    """Every order of reports ends where the forward-only rule says; record returns it."""
    async with make_store() as store:
        for n, reports in enumerate(itertools.permutations((Q, S, D, R, F), 3)):
            message_id = f"wamid.P{n}"
            for i, status in enumerate(reports):
                on_record = await store.record(message_id, status)
                assert on_record is _expected(reports[: i + 1])
            assert await store.get(message_id) is _expected(reports)


async def test_read_and_failed_are_final(make_store: StoreFactory) -> None:
    """Nothing moves a message out of READ, and a late FAILED does not either."""
    async with make_store() as store:
        await store.record("wamid.A", R)
        assert await store.record("wamid.A", F) is R
        await store.record("wamid.B", F)
        assert await store.record("wamid.B", R) is F
        assert await store.get("wamid.A") is R
        assert await store.get("wamid.B") is F


async def test_messages_do_not_share_a_status(make_store: StoreFactory) -> None:
    """Recording one message leaves another untouched."""
    async with make_store() as store:
        await store.record("wamid.ONE", D)
        await store.record("wamid.TWO", Q)
        assert await store.get("wamid.ONE") is D
        assert await store.get("wamid.TWO") is Q


async def test_concurrent_reports_end_on_the_furthest(make_store: StoreFactory) -> None:
    """Reports of many messages racing from two store instances end on the furthest status."""
    reports = [Q, S, D, R] * 5
    async with make_store() as first, make_store() as second:
        await asyncio.gather(
            *(
                (first if i % 2 else second).record(f"wamid.C{m}", status)
                for m in range(10)
                for i, status in enumerate(reversed(reports) if m % 2 else reports)
            )
        )
        for m in range(10):
            assert await first.get(f"wamid.C{m}") is R
            assert await second.get(f"wamid.C{m}") is R


async def test_another_instance_reads_what_one_recorded(make_store: StoreFactory) -> None:
    """What one instance (the webhook process) records, a later instance (the sender) reads."""
    async with make_store() as webhooks:
        await webhooks.record("wamid.SHARED", D)
    async with make_store() as sender:
        assert await sender.get("wamid.SHARED") is D
        assert await sender.record("wamid.SHARED", S) is D


async def test_a_text_fallback_is_kept_for_another_instance(make_store: StoreFactory) -> None:
    """
    The template kept for an accepted text is read back by another instance (the webhook
    process, after a restart), kept apart from the statuses; an unknown id reads None.
    """
    async with make_store() as sender:
        assert isinstance(sender, TextFallbackStore)
        await sender.remember_fallback("wamid.TEXT", '{"kind": "send_message", "v": 1}')
        await sender.record("wamid.TEXT", S)
    async with make_store() as webhooks:
        assert isinstance(webhooks, TextFallbackStore)
        assert await webhooks.fallback_for("wamid.TEXT") == '{"kind": "send_message", "v": 1}'
        assert await webhooks.get("wamid.TEXT") is S
        assert await webhooks.fallback_for("wamid.OTHER") is None
        await webhooks.remember_fallback("wamid.TEXT", "second")
        assert await webhooks.fallback_for("wamid.TEXT") == "second"


async def test_the_memory_store_keeps_as_many_fallbacks_as_statuses() -> None:
    """The in-memory fallbacks are bounded like its log: the oldest are forgotten first."""
    store = MemoryDeliveryStatusStore(DeliveryStatusLog(max_messages=2))
    for n in range(3):
        await store.remember_fallback(f"wamid.{n}", str(n))
    assert [await store.fallback_for(f"wamid.{n}") for n in range(3)] == [None, "1", "2"]


def test_the_redis_store_repr_hides_the_url_password() -> None:
    """The Redis store's repr shows no password from its URL."""
    redis = RedisDeliveryStatusStore("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(redis)


# ------------------------------------------------------------------ SQLite only


async def test_sqlite_persists_across_reopen(tmp_path: Path) -> None:
    """A closed and reopened file still knows every status (a restart loses nothing)."""
    path = tmp_path / "status.sqlite3"
    async with SQLiteDeliveryStatusStore(path) as store:
        await store.record("wamid.P", R)
    async with SQLiteDeliveryStatusStore(path) as store:
        assert await store.get("wamid.P") is R


async def test_sqlite_forgets_untouched_messages_after_retention(tmp_path: Path) -> None:
    """Past retention a message reads as unknown, restarts afresh, and is purged."""
    clock = FakeClock()
    path = tmp_path / "status.sqlite3"
    async with SQLiteDeliveryStatusStore(path, retention_seconds=60, clock=clock) as store:
        await store.record("wamid.OLD", R)
        await store.record("wamid.KEPT", S)
        clock.advance(50)
        await store.record("wamid.KEPT", Q)  # ignored, but refreshes its age
        clock.advance(20)
        assert await store.get("wamid.OLD") is None
        assert await store.get("wamid.KEPT") is S
        assert await store.purge() == 1
        assert await store.record("wamid.OLD", S) is S


async def test_sqlite_forgets_fallbacks_after_retention(tmp_path: Path) -> None:
    """A text fallback past retention reads None and is purged with the statuses."""
    clock = FakeClock()
    path = tmp_path / "status.sqlite3"
    async with SQLiteDeliveryStatusStore(path, retention_seconds=60, clock=clock) as store:
        await store.remember_fallback("wamid.OLD", "old")
        clock.advance(61)
        await store.remember_fallback("wamid.NEW", "new")
        assert await store.fallback_for("wamid.OLD") is None
        assert await store.fallback_for("wamid.NEW") == "new"
        assert await store.purge() == 1


async def test_sqlite_closed_store_refuses_work(tmp_path: Path) -> None:
    """After close a call raises a clear RuntimeError; closing twice is fine."""
    store = SQLiteDeliveryStatusStore(tmp_path / "status.sqlite3")
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.get("wamid.X")


async def test_sqlite_unknown_stored_value_is_a_clear_error(tmp_path: Path) -> None:
    """A row holding a status this version does not know fails clearly, naming no message."""
    path = tmp_path / "status.sqlite3"
    async with SQLiteDeliveryStatusStore(path) as store:
        await store.record("wamid.X", S)
    with sqlite3.connect(path) as conn:  # tamper with the file as another version would
        conn.execute("UPDATE portico_delivery_status SET status = 'seen'")
    async with SQLiteDeliveryStatusStore(path) as store:
        with pytest.raises(ValueError, match="does not know") as err:
            await store.get("wamid.X")
    assert "wamid" not in str(err.value)


@pytest.mark.parametrize(("field", "value"), [("retention_seconds", 0), ("purge_every", 0)])
def test_sqlite_refuses_nonsense_settings(tmp_path: Path, field: str, value: Any) -> None:
    """A zero retention or purge interval is refused, naming the argument."""
    with pytest.raises(ValueError, match=field):
        SQLiteDeliveryStatusStore(tmp_path / "x.sqlite3", **{field: value})


# ------------------------------------------------------------------ Redis only


async def test_redis_keys_expire_and_reports_refresh_them(redis_url: str) -> None:
    """Each message key carries the retention TTL, renewed by every report (even ignored ones)."""
    prefix = f"test:status:{secrets.token_hex(4)}:"
    client = Redis.from_url(redis_url)
    try:
        store = RedisDeliveryStatusStore(client=client, prefix=prefix, retention_seconds=60)
        await store.record("wamid.T", R)
        await client.pexpire(store.redis_key("wamid.T"), 1000)
        assert await store.record("wamid.T", S) is R
        assert 59_000 < await client.pttl(store.redis_key("wamid.T")) <= 60_000
        await client.set(store.redis_key("wamid.U"), "seen")
        assert await store.record("wamid.U", S) is S  # an unknown stored value is replaced
        await store.close()  # a shared client stays open
        assert await client.ping()
    finally:
        await client.aclose()


def test_redis_needs_exactly_one_connection() -> None:
    """Neither or both of url and client is refused."""
    with pytest.raises(ValueError, match="exactly one"):
        RedisDeliveryStatusStore()
