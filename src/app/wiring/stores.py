"""
The durable stores, built from `Settings`: outbox, webhook replay store, failed-event log and the
WhatsApp delivery-status store.

A store's ``kind`` left unset means: memory in the ``fake`` environment without a ``data_dir``
(nothing is written to the host's folder), SQLite otherwise. SQLite files default to
``data_dir`` (the current folder outside ``fake`` when unset) under names that say their
environment (``portico-outbox.sandbox.sqlite3``; production keeps the plain
``portico-outbox.sqlite3``), so a fake or sandbox run never shares production's files. Nothing is
opened here: files are created and servers connected on first use.

Each builder takes the container's ``clock`` (default `SYSTEM_CLOCK`): it stamps the rows of the
SQLite stores and times the memory replay store's leases; Redis keeps its server's clock.
"""

from __future__ import annotations

from pathlib import PurePath

from ...adapters.failed_events.memory import MemoryFailedEventLog
from ...adapters.failed_events.sqlite import SQLiteFailedEventLog
from ...adapters.outbox.sqlite import OpenMode, SqliteOutbox
from ...adapters.stores.breaker_control import (
    MemoryBreakerControlStore,
    SQLiteBreakerControlStore,
)
from ...adapters.stores.memory import DEFAULT_RETENTION_SECONDS as MEMORY_RETENTION
from ...adapters.stores.memory import MemoryReplayStore
from ...adapters.stores.operator_actions import MemoryOperatorActionLog, SQLiteOperatorActionLog
from ...adapters.stores.sqlite import DEFAULT_RETENTION_SECONDS as SQLITE_RETENTION
from ...adapters.stores.sqlite import SQLiteReplayStore
from ...adapters.whatsapp.status_log import MemoryDeliveryStatusStore
from ...adapters.whatsapp.status_sqlite import SQLiteDeliveryStatusStore
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.breaker_control import BreakerControlStore
from ...ports.delivery_status import DeliveryStatusStore
from ...ports.failed_events import FailedEventLog
from ...ports.operator_actions import OperatorActionLog
from ...ports.outbox import Outbox
from ...ports.webhooks import ReplayStore
from .settings import Settings


__all__ = [
    "build_breaker_control_store",
    "build_failed_event_log",
    "build_operator_action_log",
    "build_outbox",
    "build_replay_store",
    "build_status_store",
    "describe",
    "replay_retention",
    "store_kind",
    "store_path",
]


def store_kind(settings: Settings, configured: str | None, path: str | None = None) -> str:
    """
    The kind a store gets: as configured; else sqlite when a path is configured; else memory
    in the fake environment without a data_dir, sqlite everywhere else.
    """
    if configured:
        return configured
    if path:
        return "sqlite"
    return "memory" if settings.is_fake and settings.data_dir is None else "sqlite"


def store_path(settings: Settings, configured: str | None, stem: str) -> str:
    """A SQLite file: as configured, else ``<stem>[.<environment>].sqlite3`` in ``data_dir``."""
    if configured:
        return configured
    suffix = "" if settings.environment == "production" else f".{settings.environment}"
    folder = settings.data_dir if settings.data_dir is not None else PurePath(".")
    return str(folder / f"{stem}{suffix}.sqlite3")


def build_outbox(
    settings: Settings, *, mode: OpenMode = "create", clock: Clock = SYSTEM_CLOCK
) -> Outbox:
    """
    The configured outbox (PostgreSQL needs the ``postgres`` extra: psycopg).

    ``mode`` ``read_only`` or ``existing`` is for operator commands: they must never create a
    store (see `SqliteOutbox`). ``clock`` stamps enqueue and due times; PostgreSQL's leases
    keep the database's clock unless it is another than the system's.
    """
    section = settings.outbox
    kind = store_kind(settings, section.kind, section.path)
    if kind == "postgres":
        from ...adapters.outbox.postgres import PostgresOutbox  # only when used

        return PostgresOutbox(
            str(section.postgres_url),
            table=section.table,
            mode=mode,
            clock=None if clock is SYSTEM_CLOCK else clock,
        )
    if kind == "memory":
        return SqliteOutbox(":memory:", table=section.table, clock=clock)
    return SqliteOutbox(
        store_path(settings, section.path, "portico-outbox"),
        table=section.table,
        mode=mode,
        clock=clock,
    )


def build_replay_store(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> ReplayStore:
    """
    The ``webhooks.replay`` store, shared by the ingress and lead intake's claims.

    Memory and SQLite stores time leases and retention on ``clock``; Redis on its server's clock.
    """
    section = settings.webhooks.replay
    kind = store_kind(settings, section.kind, section.path)
    if kind == "memory":
        return MemoryReplayStore(clock=clock)
    if kind == "redis":
        from ...adapters.stores.redis_store import RedisReplayStore  # only when used

        return RedisReplayStore(
            str(section.url),
            socket_timeout=section.socket_timeout,
            connect_timeout=section.connect_timeout,
        )
    return SQLiteReplayStore(store_path(settings, section.path, "portico-replay"), clock=clock)


def replay_retention(kind: str) -> float:
    """Seconds a processed delivery answers "duplicate" in a replay store of ``kind``."""
    if kind == "redis":
        from ...adapters.stores.redis_store import DEFAULT_RETENTION_SECONDS  # only when used

        return DEFAULT_RETENTION_SECONDS
    return MEMORY_RETENTION if kind == "memory" else SQLITE_RETENTION


def build_failed_event_log(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> FailedEventLog:
    """
    The ``webhooks.failed_events`` log: events a handler refused for good, kept for replay.

    Its file defaults to the replay store's folder when that one is configured by path.
    ``clock`` stamps ``resolved_at``.
    """
    section = settings.webhooks.failed_events
    replay = settings.webhooks.replay
    replay_kind = store_kind(settings, replay.kind, replay.path)
    path = section.path
    if not path and replay.path and replay_kind == "sqlite":
        path = str(PurePath(replay.path).with_name("portico-failed-events.sqlite3"))
    follows_replay = replay_kind if replay_kind == "memory" and not section.path else None
    kind = store_kind(settings, section.kind or follows_replay, path)
    if kind == "memory":
        return MemoryFailedEventLog(clock=clock)
    return SQLiteFailedEventLog(store_path(settings, path, "portico-failed-events"), clock=clock)


def build_status_store(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> DeliveryStatusStore:
    """
    ``messaging.status_store``: WhatsApp statuses, shared by the sender and the webhooks.

    ``clock`` stamps the SQLite store's reports (its retention); Redis keeps its server's clock.
    """
    section = settings.status_store
    kind = store_kind(settings, section.kind, section.path)
    if kind == "memory":
        return MemoryDeliveryStatusStore()
    if kind == "redis":
        from ...adapters.whatsapp.status_redis import RedisDeliveryStatusStore  # only when used

        return RedisDeliveryStatusStore(
            str(section.url),
            retention_seconds=section.retention_seconds,
            socket_timeout=section.socket_timeout,
            connect_timeout=section.connect_timeout,
        )
    return SQLiteDeliveryStatusStore(
        store_path(settings, section.path, "portico-status"),
        retention_seconds=section.retention_seconds,
        clock=clock,
    )


def describe(outbox: Outbox) -> str:
    """Where ``outbox`` keeps its commands (absolute path or server and table; no secrets)."""
    location = getattr(outbox, "location", None)
    return f"{type(outbox).__name__} at {location}" if location else type(outbox).__name__


def build_breaker_control_store(
    settings: Settings, *, clock: Clock = SYSTEM_CLOCK
) -> BreakerControlStore:
    """
    The operators' breaker overrides (``portico breaker``): memory by the store rule above,
    else ``portico-breakers[.<environment>].sqlite3`` in ``data_dir``, shared by every process
    that uses that folder (a running server and relay honour the CLI within a second).
    """
    if store_kind(settings, None) == "memory":
        return MemoryBreakerControlStore(clock=clock)
    return SQLiteBreakerControlStore(store_path(settings, None, "portico-breakers"), clock=clock)


def build_operator_action_log(settings: Settings) -> OperatorActionLog:
    """
    The console's operator action log: memory by the store rule above, else
    ``console.actions_path`` or ``portico-console[.<environment>].sqlite3`` in ``data_dir``.
    """
    path = settings.console.actions_path
    if store_kind(settings, None, path) == "memory":
        return MemoryOperatorActionLog()
    return SQLiteOperatorActionLog(store_path(settings, path, "portico-console"))
