"""
``async with`` for the stores that hold a connection: leaving the block closes the store.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


__all__ = ["ClosesOnExit"]


class ClosesOnExit(abc.ABC):
    """A mixin: ``async with store:`` may connect on entry, and always closes on exit."""

    async def _on_enter(self) -> None:  # noqa: B027 - a hook: connecting early is optional
        """Connect now rather than on first use; nothing to do by default."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection; subclasses say what that means."""

    async def __aenter__(self) -> Self:
        await self._on_enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
