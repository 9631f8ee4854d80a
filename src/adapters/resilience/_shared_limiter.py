"""
`SharedRateLimiter`: one vendor account's quota, shared by every worker through Redis (GCRA).

The quota lives in one Redis key per account, holding its *theoretical arrival time* (``tat``,
milliseconds): the Generic Cell Rate Algorithm of ATM networks, as redis-cell and Stripe's
limiters use it. A call is due at ``max(tat, now) + T - burst*T`` (``T = 1/rate``); one Lua
script reads the key, answers "go now" or "wait this long", and moves ``tat`` on by ``T``,
atomically, on Redis's own clock (``TIME``), so worker clocks never matter. Like the local
`RateLimiter` it admits at most ``burst + rate * t`` calls in any ``t`` seconds, across every
worker; a caller whose slot is further than ``max_wait`` away is refused at once
(`RateLimitExceeded`) and reserves nothing.

**Reserve, then wait.** The script reserves the slot and returns the wait; the caller sleeps it
locally (no polling), and on waking reads the pause key once: a pause set meanwhile sends it back
to the queue behind the pause (or refuses it, past ``max_wait``). A caller cancelled while it waits
gives its slot back with a compare-and-set: when no later reservation was made, ``tat`` steps back
by ``T`` and the next caller gets the slot. When later callers already reserved, the slot is
forfeited, never handed out twice: its cost is one emission interval of delay for the callers
behind it, gone as soon as the account is idle again (``tat`` falls behind ``now``). Never an extra
call.

**Vendor feedback** adjusts the shared quota through the same key and a second one:

- `pause`: a ``Retry-After`` seen by one worker sets ``paused_until`` (the later of the two), and
  the acquire script holds every worker's calls until then;
- `slow`: a vendor's "``remaining`` calls left in this ``window``" (HubSpot's
  ``X-HubSpot-RateLimit-Remaining`` and ``-Interval-Milliseconds``) moves ``tat`` so that no
  more than ``remaining`` calls go out over the next ``window`` seconds, however old the
  vendor's window is. Only a nearly spent window (``remaining <= burst``) costs a round trip.

**Redis away.** A failed or slow (``timeout``) command switches the limiter to a local
`RateLimiter` at ``rate / expected_workers`` (never unlimited), logs one warning, and `status`
says so; every ``retry_interval`` seconds one call tries Redis again, and the first success
returns to the shared quota (logged once). Nothing here raises a Redis error to a caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ...domain.errors import RateLimitExceeded
from ...domain.time import SYSTEM_CLOCK, Clock
from ._limiter import RateLimiter


__all__ = ["RateFeedback", "SharedRateLimiter", "account_key"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

# KEYS: tat, paused_until. ARGV: T ms, burst*T ms, max_wait ms, now ms ("" = Redis TIME).
# Returns {reserved tat, wait ms} as strings, or {"", wait ms} when refused (nothing reserved).
_ACQUIRE = """
local function fmt(v) return string.format('%.17g', v) end
local now = tonumber(ARGV[4])
if not now then local t = redis.call('TIME'); now = t[1] * 1000 + t[2] / 1000 end
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local due = tat + interval - tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]))
if paused and paused > due then due = paused end
local wait = due - now
if wait > tonumber(ARGV[3]) then return {'', fmt(wait)} end
local reserved = fmt(tat + interval)
redis.call('SET', KEYS[1], reserved, 'PX', math.ceil(tat + interval - now) + 1000)
if wait < 0 then wait = 0 end
return {reserved, fmt(wait)}
"""

# KEYS: tat. ARGV: the reserved tat, T ms. Steps back only if nobody reserved after.
_GIVE_BACK = """
local function fmt(v) return string.format('%.17g', v) end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], fmt(tonumber(ARGV[1]) - tonumber(ARGV[2])), 'KEEPTTL')
  return 1
end
return 0
"""

# KEYS: tat, paused_until. ARGV: pause ms, tat floor offset ms ("" = none), now ms ("" = TIME).
# paused_until := max(paused_until, now + pause); tat := max(tat, now + offset).
_ADJUST = """
local function fmt(v) return string.format('%.17g', v) end
local now = tonumber(ARGV[3])
if not now then local t = redis.call('TIME'); now = t[1] * 1000 + t[2] / 1000 end
local pause = tonumber(ARGV[1])
if pause and pause > 0 then
  local current = tonumber(redis.call('GET', KEYS[2]))
  if not current or current < now + pause then
    redis.call('SET', KEYS[2], fmt(now + pause), 'PX', math.ceil(pause))
  end
end
local offset = tonumber(ARGV[2])
if offset then
  local tat = tonumber(redis.call('GET', KEYS[1])) or now
  if tat < now + offset then
    redis.call('SET', KEYS[1], fmt(now + offset), 'PX', math.ceil(offset) + 1000)
  end
end
return 1
"""

_REDIS_DOWN = (RedisError, OSError, TimeoutError)


class RateFeedback(Protocol):
    """What a vendor's answers tell the limiter of its account (see the module docstring)."""

    async def pause(self, seconds: float) -> None:
        """The vendor said "retry after ``seconds``": no call of this account before then."""

    async def slow(self, remaining: int, window: float) -> None:
        """The vendor has ``remaining`` calls left in its current ``window`` seconds."""


class SharedRateLimiter:
    """
    Spend one slot of the account's shared quota per call; wait up to ``max_wait`` for it.

    Args:
        name: the integration, named in `RateLimitExceeded` and `status`.
        client: the Redis client (fail fast: `adapters.redis_client.fail_fast_client`).
        key: the quota's Redis key (integration and account; a second key adds ``:paused``).
        rate, burst, max_wait: as `RateLimiter`'s, for the whole account.
        expected_workers: how many processes share the account; the local fallback gets
            ``rate / expected_workers`` and ``burst / expected_workers`` (at least 1).
        retry_interval: seconds between tries of Redis while it is away.
        clock: `Clock.sleep` waits for a slot; `Clock.monotonic` paces the retries.
        wall: milliseconds "now" for the script (tests); None uses Redis's ``TIME``.
    """

    def __init__(
        self,
        name: str,
        *,
        client: Redis,
        key: str,
        rate: float,
        burst: int,
        max_wait: float = 1.0,
        expected_workers: int = 1,
        retry_interval: float = 2.0,
        clock: Clock = SYSTEM_CLOCK,
        wall: Callable[[], float] | None = None,
    ) -> None:
        if expected_workers < 1:
            msg = f"expected_workers must be >= 1, got {expected_workers}"
            raise ValueError(msg)
        self.fallback = RateLimiter(
            name,
            rate=rate / expected_workers,
            burst=max(1, burst // expected_workers),
            max_wait=max_wait,
            clock=clock,
        )  # validates rate, burst and max_wait
        self.name = name
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self.expected_workers = expected_workers
        self.retry_interval = retry_interval
        self.clock = clock
        self._client = client
        self._keys = (key, key + ":paused")
        self._interval_ms = 1000.0 / rate
        self._tau_ms = burst * self._interval_ms
        self._wall = wall
        self._monotonic = clock.monotonic
        self._sleep = clock.sleep
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._give_back: Any = client.register_script(_GIVE_BACK)
        self._adjust: Any = client.register_script(_ADJUST)
        self._down_since: float | None = None  # monotonic time Redis was found away
        self._retry_at = 0.0
        self._pending: set[asyncio.Task[None]] = set()  # give-backs of cancelled waiters

    def __repr__(self) -> str:  # the key may name the account: not shown
        return f"<SharedRateLimiter {self.name!r} rate={self.rate}/s burst={self.burst}>"

    # ------------------------------------------------------------------ the limiter interface

    def try_acquire(self) -> bool:
        """Take a local token while Redis is away; the shared quota always needs `acquire`."""
        if self._down_since is not None and self._monotonic() < self._retry_at:
            return self.fallback.try_acquire()
        return False

    async def acquire(self) -> None:
        """
        Take a slot of the shared quota, waiting for it if it comes within ``max_wait``.

        Raises:
            RateLimitExceeded: the slot would come later than ``max_wait`` from now (a pause
                the vendor asked for included).
        """
        if self._down_since is not None and self._monotonic() < self._retry_at:
            await self._local()
            return
        await self._take(self.max_wait)

    async def _take(self, budget: float) -> None:
        try:
            reserved, wait_ms = await self._acquire(
                keys=self._keys,
                args=(self._interval_ms, self._tau_ms, repr(budget * 1000.0), self._now()),
            )
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            await self._local()
            return
        self._came_back()
        wait = float(wait_ms) / 1000.0
        if not reserved:
            raise RateLimitExceeded(
                f"no slot of the shared quota within {self.max_wait:g}s "
                f"(limit {self.rate:g}/s, burst {self.burst}; next in {wait:.2f}s)",
                integration=self.name,
            )
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            task = asyncio.ensure_future(self._return(reserved))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            raise
        # A pause set while this caller slept (another worker met a 429) holds it too: it
        # queues again behind the pause, within what is left of its wait. Only callers that
        # waited pay this read, so at most ``rate`` reads a second per account.
        try:
            paused_ms = await self._client.pttl(self._keys[1])
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            return
        if paused_ms > 0:
            await self._take(budget - wait)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Take a slot (see `acquire`), then run ``fn(*args, **kwargs)``."""
        if not self.try_acquire():
            await self.acquire()
        return await fn(*args, **kwargs)

    # ------------------------------------------------------------------ vendor feedback

    async def pause(self, seconds: float) -> None:
        """No call of the account, from any worker, for ``seconds`` (a vendor's Retry-After)."""
        if not seconds > 0:
            return
        self.fallback.pause(seconds)
        await self._adjust_quota(str(seconds * 1000.0), "")

    async def slow(self, remaining: int, window: float) -> None:
        """
        At most ``remaining`` more calls over the next ``window`` seconds, from all workers.

        Ignored while ``remaining > burst``: the quota's own pace keeps it safe then, and a
        response costs no round trip.
        """
        if remaining > self.burst or not window > 0:
            return
        offset = self._tau_ms + window * 1000.0 - max(remaining, 0) * self._interval_ms
        if remaining <= 0:
            self.fallback.pause(window)
        await self._adjust_quota("", str(offset))

    # ------------------------------------------------------------------ health

    def is_shared(self) -> bool:
        """True while the quota is Redis's; False while the local fallback limits calls."""
        return self._down_since is None

    def status(self) -> str:
        """One line for `portico health`: where the quota is kept now."""
        quota = f"{self.rate:g}/s burst {self.burst}"
        if self._down_since is None:
            return f"{self.name}: shared rate limit {quota} on Redis"
        away = max(self._monotonic() - self._down_since, 0.0)
        return (
            f"{self.name}: shared rate limit {quota}: Redis unavailable for {away:.0f}s, "
            f"local fallback {self.fallback.rate:g}/s (quota / {self.expected_workers} workers)"
        )

    async def drain(self) -> None:
        """Wait for the slots of cancelled waiters to be given back (tests, shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    # ------------------------------------------------------------------ internals

    def _now(self) -> str:
        return "" if self._wall is None else repr(self._wall() * 1000.0)

    async def _local(self) -> None:
        if not self.fallback.try_acquire():
            await self.fallback.acquire()

    async def _return(self, reserved: str) -> None:
        try:
            await self._give_back(keys=self._keys[:1], args=(reserved, self._interval_ms))
        except _REDIS_DOWN as exc:
            self._went_away(exc)

    async def _adjust_quota(self, pause_ms: str, offset_ms: str) -> None:
        if self._down_since is not None and self._monotonic() < self._retry_at:
            return  # the local fallback was told above
        try:
            await self._adjust(keys=self._keys, args=(pause_ms, offset_ms, self._now()))
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            return
        self._came_back()

    def _went_away(self, exc: BaseException) -> None:
        now = self._monotonic()
        self._retry_at = now + self.retry_interval
        if self._down_since is None:
            self._down_since = now
            _log.warning(
                "%s: Redis unavailable (%s); shared rate limit replaced by a local one at "
                "%g/s (quota / %d expected workers) until it is back",
                self.name,
                type(exc).__name__,
                self.fallback.rate,
                self.expected_workers,
            )

    def _came_back(self) -> None:
        if self._down_since is not None:
            away = self._monotonic() - self._down_since
            self._down_since = None
            _log.warning(
                "%s: Redis is back after %.0fs; shared rate limit restored", self.name, away
            )


def account_key(prefix: str, integration: str, account: str | None) -> str:
    """The Redis key of ``integration``'s quota for ``account`` (``default`` when unnamed)."""
    return f"{prefix}{integration}:{account or 'default'}"
