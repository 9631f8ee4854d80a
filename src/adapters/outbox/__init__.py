"""
Durable outboxes: SQLite embedded, PostgreSQL at scale. They store; the relay that drains them is
a use case (`app.services.outbox_relay`).
"""

from ._rows import OutboxNotFound
from ._sqlite_open import NotAnOutbox
from .sqlite import SqliteOutbox


__all__ = ["NotAnOutbox", "OutboxNotFound", "SqliteOutbox"]
