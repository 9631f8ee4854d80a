"""
The embedded replay store: one SQLite file, surviving restarts, shared by a host's processes.

Each claim is one ``BEGIN IMMEDIATE`` transaction around an ``INSERT ... ON CONFLICT DO UPDATE
... WHERE expires_at <= now``: the row is taken over only when its lease (or retention) has run
out, so of many concurrent claims, in one process or several, exactly one is CLAIMED. The file is
in WAL mode (readers never block the writer) with ``synchronous=FULL``, so a completion that was
acknowledged survives a power cut.

Every claim carries a random token, returned in its `Claim`; `release` deletes the row only while
it still holds that token, so a worker (or coroutine) whose lease expired cannot free another's
claim.

All SQLite work runs on one worker thread that owns the connection: the event loop never waits
on disk or on another process's lock. Times are wall-clock seconds (``time.time``): they must
mean the same thing after a restart and in every process.
"""

from __future__ import annotations

import secrets
import sqlite3
from os import PathLike

from ...domain.replay import Claim
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...domain.webhooks import ClaimOutcome
from ..sqlite_worker import RetainingSQLiteStore, open_wal


__all__ = ["SQLiteReplayStore"]

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portico_replay (
    key        TEXT PRIMARY KEY,
    token      TEXT,             -- the claimant's token; NULL once completed
    done       INTEGER NOT NULL, -- 0 claimed, 1 completed
    expires_at REAL NOT NULL     -- lease end while claimed, retention end once completed
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS portico_replay_expiry ON portico_replay (expires_at);
"""

_CLAIM = """
INSERT INTO portico_replay (key, token, done, expires_at) VALUES (?, ?, 0, ?)
ON CONFLICT (key) DO UPDATE
    SET token = excluded.token, done = 0, expires_at = excluded.expires_at
    WHERE portico_replay.expires_at <= ?
RETURNING token
"""

_COMPLETE = """
INSERT INTO portico_replay (key, token, done, expires_at) VALUES (?, NULL, 1, ?)
ON CONFLICT (key) DO UPDATE SET token = NULL, done = 1, expires_at = excluded.expires_at
"""


class SQLiteReplayStore(RetainingSQLiteStore):
    """
    `ReplayStore` in an SQLite file. Use ``async with`` or call `close` when done.

    Args:
        path: the database file (created if missing; its directory must exist).
        retention_seconds: how long a completed key answers DUPLICATE (default 7 days).
        clock: the time source; leases and retention are stamped with `Clock.now`.
        busy_timeout: seconds to wait for another process's write lock before failing.
        purge_every: delete expired rows after this many completions.
    """

    INTEGRATION = "replay_store"

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        busy_timeout: float = 30.0,
        purge_every: int = 1000,
    ) -> None:
        super().__init__(
            path,
            retention_seconds=retention_seconds,
            clock=epoch_seconds(clock),
            busy_timeout=busy_timeout,
            purge_every=purge_every,
            thread_name="portico-sqlite",
        )

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Take ``key`` in one transaction unless it is completed or claimed and unexpired."""
        token = secrets.token_hex(16)
        outcome = await self._worker.run(lambda: self._claim(key, token, lease_seconds))
        return Claim(key, outcome, token if outcome is ClaimOutcome.CLAIMED else "")

    async def complete(self, claim: Claim) -> None:
        """Mark the claimed key processed for the retention period."""
        claim.held_token("completed")
        await self._worker.run(lambda: self._complete(claim.key))

    async def release(self, claim: Claim) -> None:
        """Delete this claim's row; a claim taken over by another worker is left alone."""
        token = claim.held_token("released")
        await self._worker.run(lambda: self._release(claim.key, token))

    async def purge(self) -> int:
        """Delete expired claims and completions now; returns how many rows went."""
        return await self._worker.run(self._purge)

    # -- on the worker thread ------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        return open_wal(
            self._path,
            busy_timeout=self._busy_timeout,
            synchronous="FULL",
            setup=lambda conn: conn.executescript(_SCHEMA),
        )

    def _claim(self, key: str, token: str, lease_seconds: float) -> ClaimOutcome:
        conn = self._worker.connection()
        now = self._clock()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(_CLAIM, (key, token, now + lease_seconds, now)).fetchone()
            if row is not None:
                outcome = ClaimOutcome.CLAIMED
            else:
                (done,) = conn.execute(
                    "SELECT done FROM portico_replay WHERE key = ?", (key,)
                ).fetchone()
                outcome = ClaimOutcome.DUPLICATE if done else ClaimOutcome.IN_FLIGHT
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return outcome

    def _complete(self, key: str) -> None:
        conn = self._worker.connection()
        conn.execute(_COMPLETE, (key, self._clock() + self._retention))
        self._count_write()

    def _release(self, key: str, token: str) -> None:
        self._worker.connection().execute(
            "DELETE FROM portico_replay WHERE key = ? AND done = 0 AND token = ?", (key, token)
        )

    def _purge(self) -> int:
        cursor = self._worker.connection().execute(
            "DELETE FROM portico_replay WHERE expires_at <= ?", (self._clock(),)
        )
        return cursor.rowcount
