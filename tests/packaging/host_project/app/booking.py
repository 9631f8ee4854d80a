"""The host's own use case."""

from __future__ import annotations

from domain.model import Appointment
from ports.calendar import Calendar


def book_follow_up(calendar: Calendar, patient: str) -> str:
    """Book the follow-up visit a paid consultation earns."""
    return calendar.book(Appointment(patient=patient, slot="monday-10:00"))
