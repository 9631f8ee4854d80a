"""
The SQLite plumbing the embedded stores share: a WAL file opened safely, on one worker thread.

SQLite calls block (on disk, and on another process's write lock), so each store keeps its one
connection on a private single-thread executor and the event loop only awaits. Switching a fresh
file to WAL takes an exclusive lock that SQLite refuses at once (without its busy handler) when
processes open the file together, so the first setup retries, with backoff, until the busy
timeout runs out.

**The file must stay the path's file.** On POSIX a deleted (or renamed-over) database stays
writable through the open descriptor: every write then "succeeds" into a file nobody will ever
open again, and a restart finds all state gone. So the worker remembers the file's identity
(``st_dev``, ``st_ino``) when it opens it and, before each unit of work, checks that the path
still names that file (one ``os.stat``, about a microsecond: ``bench/sqlite_identity.py``).
When it does not (the file or its directory was removed, or another file put in its place) every
call raises `domain.errors.Unavailable` (``request_sent=False``), logged once at ERROR, until the
path is that file again; the store never writes into the lost file, and never silently starts a
new one (restart the process once the file is restored, or on purpose to start afresh).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from os import PathLike
from typing import Literal, ParamSpec, TypeVar

from ..domain.errors import Unavailable
from .closing import ClosesOnExit


__all__ = ["FileIdentity", "SQLiteStore", "SQLiteWorker", "open_wal"]

_T = TypeVar("_T")
_P = ParamSpec("_P")

Synchronous = Literal["FULL", "NORMAL"]

log = logging.getLogger("portico.sqlite")


def _no_setup(conn: sqlite3.Connection) -> None:
    """Nothing to create: the schema already exists or is made elsewhere."""


def open_wal(
    target: str | PathLike[str],
    *,
    busy_timeout: float,
    synchronous: Synchronous,
    setup: Callable[[sqlite3.Connection], object] = _no_setup,
    wal: bool = True,
    uri: bool = False,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """
    An autocommit connection with a busy timeout, in WAL mode, after ``setup`` (the schema).

    ``wal=False`` leaves the journal mode alone (a read-only connection cannot change it).
    """
    conn = sqlite3.connect(
        target,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=check_same_thread,
        uri=uri,
    )
    try:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        _retry_locked(conn, busy_timeout, wal, setup)
    except BaseException:
        conn.close()
        raise
    return conn


def _retry_locked(
    conn: sqlite3.Connection,
    busy_timeout: float,
    wal: bool,
    setup: Callable[[sqlite3.Connection], object],
) -> None:
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            if wal:
                conn.execute("PRAGMA journal_mode = WAL")
            setup(conn)
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(pause)  # on the worker thread, never on the event loop
            pause = min(pause * 2, 0.2)
        else:
            return


class FileIdentity:
    """
    Whether a path still names the file a connection was opened on (``st_dev``, ``st_ino``).

    Args:
        path: the database file; None for a store with no file (``:memory:``): always fine.
        integration: names the store in the `Unavailable` raised (``outbox``, ``replay_store``).
    """

    def __init__(self, path: str | PathLike[str] | None, *, integration: str) -> None:
        target = None if path is None else os.fspath(path)
        self.path = None if target in (None, "", ":memory:") else os.path.abspath(str(target))
        self.integration = integration
        self._identity: tuple[int, int] | None = None
        self.lost = False  # the path no longer names the file (logged once per loss)

    def remember(self) -> None:
        """Record the identity of the file just opened at the path."""
        if self.path is not None:
            found = os.stat(self.path)
            self._identity = (found.st_dev, found.st_ino)

    def check(self) -> None:
        """
        Raise `Unavailable` unless the path still names the remembered file.

        Raises:
            Unavailable: the file or its directory was removed, or another file replaced it.
        """
        if self.path is None or self._identity is None:
            return
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            gone = not os.path.isdir(os.path.dirname(self.path))
            now, why = None, "was removed with its directory" if gone else "was removed"
        except OSError as err:
            now, why = None, f"cannot be read ({type(err).__name__})"
        else:
            now, why = (found.st_dev, found.st_ino), "was replaced by another file"
        if now == self._identity:
            if self.lost:
                self.lost = False
                log.warning("sqlite %s: %s is its file again", self.integration, self.path)
            return
        if not self.lost:
            self.lost = True
            log.error(
                "sqlite %s: the open database %s %s; refusing every call (nothing is written "
                "into the lost file). Restore it, or restart to start a new one.",
                self.integration,
                self.path,
                why,
            )
        raise Unavailable(
            f"the {self.integration} file {why}", integration=self.integration, request_sent=False
        )


class SQLiteWorker:
    """
    One lazily opened connection and the one thread that uses it.

    Args:
        opener: makes the connection; called on the worker thread on first use.
        name: the owner's name, for the error raised once closed.
        thread_name: the worker thread's name prefix.
        path: the file ``opener`` opens (None or ``:memory:``: none), checked before every unit
            of work (`FileIdentity`).
        integration: names the store in the `Unavailable` raised when the file is lost.
    """

    def __init__(
        self,
        opener: Callable[[], sqlite3.Connection],
        *,
        name: str,
        thread_name: str,
        path: str | PathLike[str] | None = None,
        integration: str = "sqlite",
    ) -> None:
        self._opener = opener
        self._name = name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._conn: sqlite3.Connection | None = None
        self.identity = FileIdentity(path, integration=integration)
        self.closed = False

    def connection(self) -> sqlite3.Connection:
        """The connection, opened on first use; call only on the worker thread."""
        if self._conn is None:
            conn = self._opener()
            try:
                self.identity.remember()
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    async def run(self, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """
        Run ``work`` on the worker thread and await its result.

        Raises:
            Unavailable: the open file is no longer the path's file (see the module docstring).
        """
        if self.closed:
            raise RuntimeError(f"{self._name} is closed")
        loop = asyncio.get_running_loop()
        checked = partial(self._checked, work, *args, **kwargs)
        return await loop.run_in_executor(self._executor, checked)

    def _checked(self, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._conn is not None:
            self.identity.check()
        return work(*args, **kwargs)

    async def close(self) -> None:
        """Close the connection and stop the worker thread (idempotent)."""
        if self.closed:
            return
        self.closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SQLiteStore(ClosesOnExit):
    """
    An embedded store on one SQLite file: its worker thread, ``async with`` and `close`.

    Subclasses implement `_open` (on the worker thread) and run their work through
    ``self._worker``; ``async with`` opens the file on entry, so a bad path fails there.
    ``INTEGRATION`` names the store in the `Unavailable` raised once its file is lost.
    """

    INTEGRATION = "sqlite"

    def __init__(self, path: str | PathLike[str], *, busy_timeout: float, thread_name: str) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._worker = SQLiteWorker(
            self._open,
            name=type(self).__name__,
            thread_name=thread_name,
            path=path,
            integration=self.INTEGRATION,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} path={str(self._path)!r} closed={self._worker.closed}>"

    async def _on_enter(self) -> None:
        await self._worker.run(self._worker.connection)

    async def close(self) -> None:
        """Close the connection and stop the worker thread (idempotent)."""
        await self._worker.close()

    @abc.abstractmethod
    def _open(self) -> sqlite3.Connection:
        """Open this store's connection and create its schema (runs on the worker thread)."""


class RetainingSQLiteStore(SQLiteStore):
    """
    A `SQLiteStore` whose rows expire: one retention period, one clock, and a purge of expired
    rows after every ``purge_every`` writes (so no timer thread is needed).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        retention_seconds: float,
        clock: Callable[[], float],
        busy_timeout: float,
        purge_every: int,
        thread_name: str,
    ) -> None:
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        if purge_every <= 0:
            raise ValueError("purge_every must be positive")
        super().__init__(path, busy_timeout=busy_timeout, thread_name=thread_name)
        self._retention = retention_seconds
        self._clock = clock
        self._purge_every = purge_every
        self._writes = 0

    def _count_write(self) -> None:
        """Count one write (on the worker thread) and purge expired rows when one is due."""
        self._writes += 1
        if self._writes % self._purge_every == 0:
            self._purge()

    @abc.abstractmethod
    def _purge(self) -> int:
        """Delete the rows past retention and say how many (runs on the worker thread)."""
