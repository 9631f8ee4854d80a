"""
`QuotaGate`: an ASGI wrapper that enforces a vendor's rolling-window quota in front of a simulator.

At most ``limit`` requests are let through in any rolling ``window`` seconds (HubSpot's
ten-secondly rolling policy, scaled down); beyond it the request is answered with the wrapped
simulator's own 429 (`Simulator.fault_response`). Counts what passed and what was refused;
``throttle_at`` answers that one request with a 429 of ``retry_after`` seconds whatever the
window (a vendor's throttle), and every arrival time is kept.
"""

from __future__ import annotations

import collections
import time

from tests.simulators.sim_base import ASGIApp, Receive, Scope, Send, Simulator, send_response


__all__ = ["QuotaGate"]


class QuotaGate:
    """``limit`` requests per rolling ``window`` seconds reach ``app``; the rest get a 429."""

    def __init__(
        self, app: Simulator, *, limit: int, window: float = 1.0, retry_after: float | None = None
    ) -> None:
        self.app: ASGIApp = app
        self.simulator = app
        self.limit = limit
        self.window = window
        self.passed = 0
        self.refused = 0
        self.first: float | None = None
        self.last = 0.0
        self._times: collections.deque[float] = collections.deque()
        self.retry_after = retry_after  # the 429's Retry-After (None: the window)
        self.throttle_at: int | None = None  # answer the request of this number with a 429
        self.throttled_at: float | None = None
        self.arrivals: list[float] = []
        self.refused_at: list[float] = []  # when each over-quota request arrived

    def reset(self) -> None:
        """Forget every count (between two runs)."""
        self.passed = self.refused = 0
        self.first = None
        self.last = 0.0
        self._times.clear()
        self.throttle_at = self.throttled_at = None
        self.arrivals.clear()
        self.refused_at.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request through if the window has room, else answer 429."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        self.arrivals.append(now)
        if self.throttle_at is not None and len(self.arrivals) == self.throttle_at:
            self.throttled_at = now
            self.refused += 1
            await send_response(send, self.simulator.fault_response(429, self.retry_after or 1.0))
            return
        times = self._times
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            self.refused += 1
            self.refused_at.append(now)
            await send_response(send, self.simulator.fault_response(429, self.window))
            return
        times.append(now)
        self.passed += 1
        self.first = now if self.first is None else self.first
        self.last = now
        await self.app(scope, receive, send)
