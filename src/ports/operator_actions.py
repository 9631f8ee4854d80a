"""The port of the operator action log: every console action, kept durably and listed."""

from __future__ import annotations

import builtins
from typing import Protocol, runtime_checkable

from ..domain.operator_actions import OperatorAction


__all__ = ["OperatorActionLog"]


@runtime_checkable
class OperatorActionLog(Protocol):
    """An append-only record of operator actions (the console's audit trail)."""

    async def record(self, action: OperatorAction) -> None:
        """Append ``action`` (durable when this returns, for a durable log)."""
        ...

    async def recent(self, limit: int = 50) -> builtins.list[OperatorAction]:
        """The last ``limit`` actions, newest first."""
        ...

    async def close(self) -> None:
        """Release the file (idempotent)."""
        ...
