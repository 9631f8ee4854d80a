"""
Breaker-control stores: memory (tests, one process) and one SQLite file shared by the processes
of a host (``portico-breakers[.<environment>].sqlite3`` in ``data_dir``).

The SQLite store writes in one ``BEGIN IMMEDIATE`` transaction per command, and reads with a
read-only connection kept open (a missing file reads as "no override": a reader never creates
it). A read is one indexed ``SELECT`` of a handful of rows, done at most once per poll interval
by each process, on the caller's thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

from ...domain.breaker_control import BreakerOverride, OverrideMode
from ...domain.errors import Unavailable
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.breaker_control import BreakerControlStore


__all__ = ["MemoryBreakerControlStore", "SQLiteBreakerControlStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portico_breaker_control (
    integration TEXT PRIMARY KEY,
    mode        TEXT,             -- open, closed, disabled; NULL: no override
    until       REAL,             -- epoch seconds; NULL: until cleared
    resets      INTEGER NOT NULL,
    updated_at  REAL NOT NULL
) WITHOUT ROWID
"""

_UPSERT = """
INSERT INTO portico_breaker_control (integration, mode, until, resets, updated_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (integration) DO UPDATE SET
    mode = excluded.mode, until = excluded.until,
    resets = portico_breaker_control.resets + excluded.resets, updated_at = excluded.updated_at
RETURNING integration, mode, until, resets, updated_at
"""


class MemoryBreakerControlStore(BreakerControlStore):
    """Overrides in a dict: one process (tests, the fake environment without ``data_dir``)."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._rows: dict[str, BreakerOverride] = {}
        self._now = epoch_seconds(clock)

    def __repr__(self) -> str:
        return f"<MemoryBreakerControlStore {sorted(self._rows)}>"

    def read(self) -> Mapping[str, BreakerOverride]:
        """Every row (a copy)."""
        return dict(self._rows)

    def _put(
        self, integration: str, mode: OverrideMode | None, until: float | None, reset: int
    ) -> BreakerOverride:
        old = self._rows.get(integration)
        row = BreakerOverride(
            integration, mode, until, (old.resets if old else 0) + reset, self._now()
        )
        self._rows[integration] = row
        return row

    def set(self, integration: str, mode: OverrideMode, until: float | None) -> BreakerOverride:
        """See `BreakerControlStore.set`."""
        return self._put(integration, mode, until, 0)

    def clear(self, integration: str) -> BreakerOverride:
        """See `BreakerControlStore.clear`."""
        return self._put(integration, None, None, 0)

    def reset(self, integration: str) -> BreakerOverride:
        """See `BreakerControlStore.reset`."""
        return self._put(integration, None, None, 1)

    def close(self) -> None:
        """Nothing to release."""


class SQLiteBreakerControlStore(BreakerControlStore):
    """
    Overrides in one SQLite file, shared by every process that points at it.

    Args:
        path: the file; created (with its folder's existence required) by the first write.
        clock: stamps ``updated_at``.
    """

    def __init__(self, path: str | Path, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path)
        self._now = epoch_seconds(clock)
        self._reader: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SQLiteBreakerControlStore {str(self.path)!r}>"

    @property
    def location(self) -> str:
        """The absolute path, for operators."""
        return str(self.path.resolve())

    def _fail(self, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"breaker-control store {self.path.name}: {type(exc).__name__}: {exc}",
            integration="breaker_control",
        )

    def read(self) -> Mapping[str, BreakerOverride]:
        """See `BreakerControlStore.read`; a missing file or table reads as no rows."""
        with self._lock:
            try:
                if self._reader is None:
                    if not self.path.exists():
                        return {}
                    uri = f"{self.path.resolve().as_uri()}?mode=ro"
                    self._reader = sqlite3.connect(uri, uri=True, check_same_thread=False)
                rows = self._reader.execute(
                    "SELECT integration, mode, until, resets, updated_at "
                    "FROM portico_breaker_control"
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return {}
                self._drop_reader()
                raise self._fail(exc) from exc
            except sqlite3.Error as exc:
                self._drop_reader()
                raise self._fail(exc) from exc
        return {row[0]: BreakerOverride(*row) for row in rows}

    def _drop_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _write(
        self, integration: str, mode: OverrideMode | None, until: float | None, reset: int
    ) -> BreakerOverride:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        try:
            conn.execute(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(_UPSERT, (integration, mode, until, reset, self._now())).fetchone()
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        finally:
            conn.close()
        return BreakerOverride(*row)

    def set(self, integration: str, mode: OverrideMode, until: float | None) -> BreakerOverride:
        """See `BreakerControlStore.set`."""
        return self._write(integration, mode, until, 0)

    def clear(self, integration: str) -> BreakerOverride:
        """See `BreakerControlStore.clear`."""
        return self._write(integration, None, None, 0)

    def reset(self, integration: str) -> BreakerOverride:
        """See `BreakerControlStore.reset`."""
        return self._write(integration, None, None, 1)

    def close(self) -> None:
        """Close the reading connection (idempotent)."""
        with self._lock:
            self._drop_reader()
