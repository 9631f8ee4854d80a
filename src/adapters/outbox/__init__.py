"""Durable outboxes (SQLite embedded, PostgreSQL at scale) and the relay that drains them."""

from adapters.outbox.relay import OutboxRelay, RelayStats
from adapters.outbox.sqlite import SqliteOutbox


__all__ = ["OutboxRelay", "RelayStats", "SqliteOutbox"]
