"""
`OutageGate`: an ASGI wrapper that takes a simulator down and brings it back slowly.

``down()``: every request is answered with the simulator's own 503 (`Simulator.fault_response`);
``recover(hold)``: requests reach the simulator again, each held ``hold`` seconds first (a vendor
warming up), so the probes a breaker lets through are the only arrivals before the first answer.
Every arrival is kept with its wall time and the last segment of its path (the caller's id).
"""

from __future__ import annotations

import asyncio
import time

from tests.simulators.sim_base import ASGIApp, Receive, Scope, Send, Simulator, send_response


__all__ = ["OutageGate"]


class OutageGate:
    """Pass requests to ``app``, or answer 503 while down, or hold them while recovering."""

    def __init__(self, app: Simulator) -> None:
        self.app: ASGIApp = app
        self.simulator = app
        self.arrivals: list[tuple[float, str]] = []
        self.down_at: float | None = None
        self.recovered_at: float | None = None
        self.first_answer: float | None = None  # the first answer after recovering
        self._down = False
        self._hold = 0.0

    def down(self) -> None:
        """Answer every request 503 from now on."""
        self.down_at = time.time()
        self._down = True

    def recover(self, hold: float) -> None:
        """Serve again, each request held ``hold`` seconds before the simulator answers it."""
        self.recovered_at = time.time()
        self._hold = hold
        self._down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record the arrival, then answer as the gate's mode says."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.arrivals.append((time.time(), str(scope["path"]).rsplit("/", 1)[-1]))
        if self._down:
            await send_response(send, self.simulator.fault_response(503, 0.0))
            return
        if self.recovered_at is not None:
            await asyncio.sleep(self._hold)
            if self.first_answer is None:
                self.first_answer = time.time()
        await self.app(scope, receive, send)

    def calls_between(self, start: float, end: float, caller: str | None = None) -> int:
        """Arrivals in [start, end), all or of one caller."""
        return sum(
            1 for t, who in self.arrivals if start <= t < end and (caller is None or who == caller)
        )
