"""Fixtures for the outbox tests: a settable clock and one factory per outbox implementation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.ports.outbox import Outbox


class ManualClock(FakeClock):
    """A `FakeClock` at a fixed epoch, also read as epoch seconds (``clock()``), as rows are."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        super().__init__(datetime.fromtimestamp(start, UTC))

    def __call__(self) -> float:
        return self.now().timestamp()

    @property
    def slept(self) -> list[float]:
        """Every delay the relay slept through, in order."""
        return self.sleeps


@pytest.fixture
def clock() -> ManualClock:
    """A clock at a fixed epoch."""
    return ManualClock()


OutboxFactory = Callable[[], Outbox]


@pytest.fixture(params=["sqlite", "postgres"])
async def make_outbox(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[OutboxFactory]:
    """Open outboxes on one store (a SQLite file, or a PostgreSQL table private to the test)."""
    opened: list[Outbox] = []
    table = f"ob_{uuid.uuid4().hex[:10]}"
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")

        def make() -> Outbox:
            box = PostgresOutbox(url, table=f"t_{table}.outbox", clock=clock)
            opened.append(box)
            return box
    else:
        path = tmp_path / "outbox.sqlite3"

        def make() -> Outbox:
            box = SqliteOutbox(path, table=table, clock=clock)
            opened.append(box)
            return box

    yield make
    for box in opened:
        await box.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def any_outbox(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Outbox]:
    """One outbox on each store the wiring builds: in memory (``fake``), a file, PostgreSQL."""
    box: Outbox
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        box = PostgresOutbox(url, table=f"t_ob_{uuid.uuid4().hex[:10]}.outbox", clock=clock)
    elif request.param == "memory":
        box = SqliteOutbox(":memory:", clock=clock)
    else:
        box = SqliteOutbox(tmp_path / "outbox.sqlite3", clock=clock)
    yield box
    await box.close()
