"""Durable outboxes (SQLite embedded, PostgreSQL at scale) and the relay that drains them."""

from .relay import OutboxRelay, RelayStats
from .sqlite import SqliteOutbox


__all__ = ["OutboxRelay", "RelayStats", "SqliteOutbox"]
