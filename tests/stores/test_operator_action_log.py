"""The operator action log: memory and SQLite keep actions newest first; SQLite across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from portico.adapters.stores.operator_actions import (
    MemoryOperatorActionLog,
    SQLiteOperatorActionLog,
)
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import build_operator_action_log
from portico.domain.operator_actions import OperatorAction


def _action(n: int) -> OperatorAction:
    return OperatorAction(
        at=1000.0 + n, operator="ana (token 1a2b3c4d)", action="requeue", target=f"id-{n}",
        ok=n % 2 == 0, result="requeued" if n % 2 == 0 else "no such dead letter",
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_recent_is_newest_first_and_bounded_by_limit(kind: str, tmp_path: Path) -> None:
    """Three actions come back newest first; ``limit`` cuts the oldest."""
    log = MemoryOperatorActionLog() if kind == "memory" else SQLiteOperatorActionLog(tmp_path / "a")
    try:
        for n in range(3):
            await log.record(_action(n))
        assert [a.target for a in await log.recent()] == ["id-2", "id-1", "id-0"]
        assert await log.recent(2) == [_action(2), _action(1)]
    finally:
        await log.close()


async def test_sqlite_keeps_actions_across_restarts(tmp_path: Path) -> None:
    """A new log on the same file lists what the previous process recorded."""
    first = SQLiteOperatorActionLog(tmp_path / "console.sqlite3")
    await first.record(_action(4))
    await first.close()
    second = SQLiteOperatorActionLog(tmp_path / "console.sqlite3")
    try:
        assert await second.recent() == [_action(4)]
    finally:
        await second.close()


async def test_memory_keeps_the_last_max_entries() -> None:
    """The memory log is bounded: the oldest go first."""
    log = MemoryOperatorActionLog(max_entries=2)
    for n in range(3):
        await log.record(_action(n))
    assert [a.target for a in await log.recent()] == ["id-2", "id-1"]


def test_the_wiring_picks_the_store_kind(tmp_path: Path) -> None:
    """Memory in fake without data_dir; SQLite named per environment in data_dir otherwise."""
    fake = load_settings({"environment": "fake"}, env={})
    assert isinstance(build_operator_action_log(fake), MemoryOperatorActionLog)
    kept = load_settings({"environment": "fake", "data_dir": str(tmp_path)}, env={})
    log = build_operator_action_log(kept)
    assert isinstance(log, SQLiteOperatorActionLog)
    assert log.location == str(tmp_path / "portico-console.fake.sqlite3")
    chosen = load_settings(
        {"environment": "fake", "console": {"actions_path": str(tmp_path / "x.sqlite3")}}, env={}
    )
    assert build_operator_action_log(chosen).location == str(tmp_path / "x.sqlite3")  # type: ignore[attr-defined]
