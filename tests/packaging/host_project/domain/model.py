"""The host's own domain value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Appointment:
    """A booked slot at the host's clinic."""

    patient: str
    slot: str
