"""The host's own adapter."""

from __future__ import annotations

from domain.model import Appointment
from ports.calendar import Calendar


class MemoryCalendar(Calendar):
    """Appointments in a list."""

    def __init__(self) -> None:
        self.booked: list[Appointment] = []

    def book(self, appointment: Appointment) -> str:
        """Keep ``appointment``; its position is its id."""
        self.booked.append(appointment)
        return f"appt-{len(self.booked)}"
