"""The host's own port."""

from __future__ import annotations

from typing import Protocol

from domain.model import Appointment


class Calendar(Protocol):
    """Where the host books appointments."""

    def book(self, appointment: Appointment) -> str:
        """Book ``appointment``; its id."""
        ...
