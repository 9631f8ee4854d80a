"""
`SharedBreakerState`: one integration's circuit, seen by every worker that shares a Redis.

Each worker keeps its own `CircuitBreaker` and counts its own failures (no Redis on a call's
way). Only three things cross Redis, each one atomic Lua script on one hash per integration
(``state``, ``gen``, ``opened_at``, ``open_until``, ``tripped_by``, ``closed_by``; times are
Redis's ``TIME`` in ms) and one probe counter beside it:

- **a trip**: the local breaker opening from CLOSED writes ``open`` with its wait and the worker
  id (``hostname:pid``); a circuit already open cluster-wide keeps its first tripper, and a trip
  judged on a generation this worker had not seen yet is not published (it adopts that one);
- **probe admission**: once ``open_until`` has passed, a worker's would-be probe takes a slot of
  the counter (capped at ``half_open_max_calls``, with a TTL so a dead worker's slot comes back),
  so the half-open count holds across all workers; a refused one fails fast locally;
- **a probe's outcome**, judged cluster-wide as the local breaker judges its own (``probes``:
  one failure re-opens, ``success_threshold`` successes close; ``rate``: the rates over exactly
  ``half_open_max_calls`` outcomes), stale outcomes (another generation) ignored.

**How the others learn: a cheap periodic read, not pub/sub.** A call whose pipeline finds the
view older than ``interval`` starts one background read of the hash (the call does not wait for
it; only a call after an idle spell longer than twice the interval waits for its one read). So an
open seen anywhere reaches every busy worker within ``interval`` plus one round trip, a bound
that holds through reconnects, whereas a pub/sub message sent while a subscriber reconnects is
lost and would need this read anyway; the cost is one read per worker per interval, and no
subscriber connection or task per process.

**Redis away**: every script's failure (or a slow answer past the client's timeout) leaves the
local breaker to decide alone, exactly as without sharing; one warning says so, `status` reports
it, and a read every ``retry_interval`` seconds brings the shared state back (logged once).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ...domain.errors import IntegrationError, LocalRejection
from ...domain.time import SYSTEM_CLOCK, Clock
from ._breaker import CircuitBreaker, CircuitState, RejectedByBreaker


__all__ = ["SharedBreakerState", "SharedCircuit", "breaker_key", "worker_id"]

_log = logging.getLogger(__name__)
_REDIS_DOWN = (RedisError, OSError, TimeoutError)
_DAY_MS = 86_400_000

# Every script answers {verdict, now, state, gen, opened_at, open_until, tripped_by, closed_by}.
_ROW = """
local function fmt(v) return string.format('%.17g', v) end
local now = tonumber(ARGV[1])
if not now then local t = redis.call('TIME'); now = t[1] * 1000 + t[2] / 1000 end
local function row(verdict)
  local r = redis.call('HMGET', KEYS[1], 'state', 'gen', 'opened_at', 'open_until',
                       'tripped_by', 'closed_by')
  return {verdict, fmt(now), r[1] or 'closed', r[2] or '0', r[3] or '', r[4] or '0',
          r[5] or '', r[6] or ''}
end
local function open(wait, worker, reason)
  local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', fmt(now),
             'open_until', fmt(now + wait), 'tripped_by', worker, 'reason', reason,
             'ok', 0, 'judged', 0, 'failed', 0, 'slow', 0)
  redis.call('PEXPIRE', KEYS[1], math.ceil(wait) + DAY_MS)
  redis.call('DEL', KEYS[2])
end
local function close(worker)
  redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_by', worker, 'closed_at', fmt(now))
  redis.call('PEXPIRE', KEYS[1], DAY_MS)
  redis.call('DEL', KEYS[2])
end
""".replace("DAY_MS", str(_DAY_MS))

_READ = _ROW + "return row('read')"

# ARGV: now, seen gen, wait ms, worker, reason.
_TRIP = (
    _ROW
    + """
local r = redis.call('HMGET', KEYS[1], 'state', 'gen', 'open_until')
if (r[2] or '0') ~= ARGV[2] then return row('stale') end
if r[1] == 'open' and tonumber(r[3]) > now then return row('kept') end
open(tonumber(ARGV[3]), ARGV[4], ARGV[5])
return row('opened')
"""
)

# ARGV: now, max probes, slot ttl ms.
_ADMIT = (
    _ROW
    + """
local r = redis.call('HMGET', KEYS[1], 'state', 'open_until')
if r[1] ~= 'open' then return row('closed') end
if tonumber(r[2]) > now then return row('open') end
local n = tonumber(redis.call('GET', KEYS[2])) or 0
if n >= tonumber(ARGV[2]) then return row('full') end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
return row('probe')
"""
)

# ARGV: now, probe gen, outcome (ok|slow|fail|none), mode, success_threshold, max probes,
# failure_rate, slow_call_rate ('' = none), reopen wait ms, worker, reason.
_OUTCOME = (
    _ROW
    + """
local r = redis.call('HMGET', KEYS[1], 'state', 'gen', 'open_until')
if r[1] ~= 'open' or r[2] ~= ARGV[2] or tonumber(r[3]) > now then return row('stale') end
local outcome = ARGV[3]
if outcome == 'none' then
  if (tonumber(redis.call('GET', KEYS[2])) or 0) > 0 then redis.call('DECR', KEYS[2]) end
  return row('released')
end
if ARGV[4] == 'probes' then
  if outcome == 'fail' then open(tonumber(ARGV[9]), ARGV[10], ARGV[11]); return row('reopened') end
  local ok = redis.call('HINCRBY', KEYS[1], 'ok', 1)
  if ok >= tonumber(ARGV[5]) then close(ARGV[10]); return row('closed') end
  if (tonumber(redis.call('GET', KEYS[2])) or 0) > 0 then redis.call('DECR', KEYS[2]) end
  return row('counted')
end
local judged = redis.call('HINCRBY', KEYS[1], 'judged', 1)
local failed = redis.call('HINCRBY', KEYS[1], 'failed', outcome == 'fail' and 1 or 0)
local slow = redis.call('HINCRBY', KEYS[1], 'slow', outcome == 'slow' and 1 or 0)
if judged < tonumber(ARGV[6]) then return row('counted') end
local slow_rate = tonumber(ARGV[8])
if failed >= tonumber(ARGV[7]) * judged or (slow_rate and slow >= slow_rate * judged) then
  open(tonumber(ARGV[9]), ARGV[10], ARGV[11])
  return row('reopened')
end
close(ARGV[10])
return row('closed')
"""
)


def worker_id() -> str:
    """This process, as the shared state names a tripper: ``hostname:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def breaker_key(prefix: str, integration: str) -> str:
    """The Redis hash of ``integration``'s shared circuit (its probe counter adds ``:probes``)."""
    return f"{prefix}{integration}"


@attrs.frozen
class SharedCircuit:
    """The shared circuit as last read, for the health report (`BreakerRegistry.snapshot`)."""

    state: str
    """"open" (probes admitted once ``retry_in`` is 0), "closed", or "unknown" (never read)."""
    tripped_by: str | None
    """The worker (``hostname:pid``) whose breaker opened it last."""
    opened_ago: float | None
    """Seconds since it opened, at the last read (None: never opened)."""
    retry_in: float
    """Seconds until probes are admitted, at the last read."""
    redis: bool
    """False while Redis is away (the local breaker decides alone)."""

    def describe(self) -> str:
        """A few words for a table cell."""
        if not self.redis:
            return "Redis away: local only"
        if self.state != "open":
            return self.state
        ago = "" if self.opened_ago is None else f" {self.opened_ago:.0f}s ago"
        return f"open by {self.tripped_by}{ago}"


class _Row:
    __slots__ = (
        "closed_by",
        "gen",
        "now",
        "open_until",
        "opened_at",
        "state",
        "tripped_by",
        "verdict",
    )

    def __init__(self, answer: list[Any]) -> None:
        values = [_text(v) for v in answer]
        self.verdict = values[0]
        self.now = float(values[1])
        self.state = values[2]
        self.gen = int(values[3])
        self.opened_at = float(values[4]) if values[4] else None
        self.open_until = float(values[5])
        self.tripped_by = values[6] or None
        self.closed_by = values[7] or None


class SharedBreakerState:
    """
    Publish ``breaker``'s trips, admit its probes and apply other workers' verdicts via Redis.

    Args:
        name: the integration (its breaker's name).
        client: a fail-fast Redis client (`adapters.redis_client.fail_fast_client`).
        key: the circuit's hash (`breaker_key`).
        interval: seconds between reads of the shared state while calls flow.
        retry_interval: seconds between tries of Redis while it is away.
        worker: this process's id in the shared state (default `worker_id`).
        clock: `Clock.monotonic` paces the reads.
        wall: milliseconds "now" for the scripts (tests); None uses Redis's ``TIME``.
    """

    def __init__(
        self,
        name: str,
        *,
        client: Redis,
        key: str,
        interval: float = 0.5,
        retry_interval: float = 2.0,
        worker: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        wall: Callable[[], float] | None = None,
    ) -> None:
        if not interval > 0 or not retry_interval > 0:
            msg = f"interval and retry_interval must be > 0, got {interval}, {retry_interval}"
            raise ValueError(msg)
        self.name = name
        self.interval = interval
        self.retry_interval = retry_interval
        self.worker = worker or worker_id()
        self.due = 0.0
        """The monotonic time of the next read (the pipeline compares it on each call)."""
        self._client = client
        self._keys = (key, key + ":probes")
        self._monotonic = clock.monotonic
        self._wall = wall
        self._read: Any = client.register_script(_READ)
        self._trip: Any = client.register_script(_TRIP)
        self._admit: Any = client.register_script(_ADMIT)
        self._outcome: Any = client.register_script(_OUTCOME)
        self._breaker: CircuitBreaker | None = None
        self._gen = 0  # the last generation seen or written
        self._row: _Row | None = None
        self._read_at: float | None = None
        self._full_until = 0.0  # probe slots were all taken: refuse locally until then
        self._adopting = False
        self._down_since: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.probes_admitted = 0
        """Probes this worker was admitted by Redis (tests and the health report)."""

    def __repr__(self) -> str:
        return f"<SharedBreakerState {self.name!r} gen={self._gen}>"

    @property
    def breaker(self) -> CircuitBreaker:
        """The local breaker this state shares (see `attach`)."""
        if self._breaker is None:
            msg = f"{self.name}: no breaker attached"
            raise LookupError(msg)
        return self._breaker

    def attach(self, breaker: CircuitBreaker) -> None:
        """Share ``breaker``: its trips are published from now on (idempotent)."""
        if self._breaker is breaker:
            return
        if self._breaker is not None:
            msg = f"{self.name}: already shares another breaker"
            raise ValueError(msg)
        self._breaker = breaker
        breaker.add_listener(self._on_transition)

    # ------------------------------------------------------------------ the pipeline's hooks

    async def catch_up(self) -> None:
        """
        Called by the pipeline when ``due``: start a background read, or, after an idle spell
        longer than twice the interval, read now (so a stale view never sends a call).
        """
        now = self._monotonic()
        stale = self._read_at is None or now - self._read_at > 2 * self.interval
        self.due = now + (self.retry_interval if self._down_since is not None else self.interval)
        if stale and self._down_since is None:
            await self.refresh()
        else:
            self._spawn(self.refresh())

    async def admit(self, permit: int) -> tuple[int, int | None]:
        """
        Let the local breaker's probe (``permit``) go only with a cluster-wide probe slot.

        Returns:
            The permit to use, and the generation the probe was admitted in (None: not a
            shared probe: Redis is away, or the circuit closed meanwhile and this is a call).

        Raises:
            CircuitOpenError: every slot is taken, or the circuit re-opened; nothing was sent.
        """
        breaker = self.breaker
        now = self._monotonic()
        if self._down_since is not None and now < self.due:
            return permit, None  # Redis away: the local breaker's own half-open limit holds
        if now < self._full_until:
            raise RejectedByBreaker(self.name, 0.0)
        try:
            row = _Row(
                await self._admit(
                    keys=self._keys,
                    args=(self._now(), breaker.half_open_max_calls, self._slot_ttl()),
                )
            )
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            return permit, None
        self._came_back()
        return self._admitted(row, permit, now)

    def _admitted(self, row: _Row, permit: int, now: float) -> tuple[int, int | None]:
        self._seen(row)
        verdict = row.verdict
        if verdict == "probe":
            self.probes_admitted += 1
            return permit, row.gen
        if verdict == "full":  # refuse locally for a while: no round trip per refused call
            self._full_until = now + self.interval
            raise RejectedByBreaker(self.name, 0.0)
        self._apply(row)  # "open": re-opened or not yet due; "closed": another probe closed it
        if verdict == "closed":
            return self.breaker.acquire(), None
        raise RejectedByBreaker(self.name, max(row.open_until - row.now, 0.0) / 1000.0)

    async def outcome(self, probe: int, exc: BaseException | None, duration: float) -> None:
        """
        Report an admitted probe's outcome; the shared verdict (if one is reached) is applied
        to the local breaker before the pipeline records the outcome there too.
        """
        breaker = self.breaker
        kind = _kind(breaker, exc, duration)
        try:
            answer = await self._outcome(
                keys=self._keys,
                args=(
                    self._now(),
                    probe,
                    kind,
                    breaker.half_open_mode,
                    breaker.success_threshold,
                    breaker.half_open_max_calls,
                    repr(breaker.failure_rate),
                    "" if breaker.slow_call_rate is None else repr(breaker.slow_call_rate),
                    repr(breaker.next_open_wait() * 1000.0),
                    self.worker,
                    _reason(exc, kind),
                ),
            )
        except _REDIS_DOWN as exc_:
            self._went_away(exc_)
            return
        self._came_back()
        row = _Row(answer)
        self._seen(row)
        if row.gen != self._gen:  # re-opened or closed here, or elsewhere meanwhile
            self._apply(row)

    def give_back(self, probe: int) -> None:
        """A cancelled probe's slot goes back to the cluster (in the background)."""
        self._spawn(self._release(probe))

    # ------------------------------------------------------------------ reading and applying

    async def refresh(self) -> None:
        """Read the shared state now and apply what changed to the local breaker."""
        try:
            row = _Row(await self._read(keys=self._keys, args=(self._now(),)))
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            return
        self._came_back()
        self._seen(row)
        if row.gen != self._gen:
            self._apply(row)

    async def drain(self) -> None:
        """Wait for the background reads and publications (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def status(self) -> SharedCircuit:
        """The shared circuit at the last read, and whether Redis is reachable."""
        row = self._row
        if row is None:
            return SharedCircuit("unknown", None, None, 0.0, redis=self._down_since is None)
        now = self._monotonic()
        since = 0.0 if self._read_at is None else now - self._read_at
        opened_ago = None if row.opened_at is None else (row.now - row.opened_at) / 1000 + since
        retry_in = max((row.open_until - row.now) / 1000 - since, 0.0)
        return SharedCircuit(
            row.state,
            row.tripped_by,
            opened_ago,
            retry_in if row.state == "open" else 0.0,
            redis=self._down_since is None,
        )

    def is_shared(self) -> bool:
        """True while Redis answers; False while the local breaker decides alone."""
        return self._down_since is None

    # ------------------------------------------------------------------ internals

    def _on_transition(self, old: CircuitState, new: CircuitState, reason: str) -> None:
        """The local breaker tripped on its own count: publish it (not an adopted state)."""
        if self._adopting or new is not CircuitState.OPEN or old is not CircuitState.CLOSED:
            return
        if self._down_since is not None and self._monotonic() < self.due:
            return
        wait = self.breaker.open_for()
        self._spawn(self._publish_trip(wait, reason))

    async def _publish_trip(self, wait: float, reason: str) -> None:
        try:
            answer = await self._trip(
                keys=self._keys,
                args=(self._now(), self._gen, repr(wait * 1000.0), self.worker, reason[:120]),
            )
        except _REDIS_DOWN as exc:
            self._went_away(exc)
            return
        self._came_back()
        row = _Row(answer)
        self._seen(row)
        if row.verdict == "opened":
            self._gen = row.gen
        else:  # "stale", "kept": a state this worker had not followed yet comes first
            self._apply(row)

    async def _release(self, probe: int) -> None:
        try:
            await self._outcome(
                keys=self._keys,
                args=(self._now(), probe, "none", "", 0, 0, 0, "", 0, self.worker, ""),
            )
        except _REDIS_DOWN as exc:
            self._went_away(exc)

    def _seen(self, row: _Row) -> None:
        self._row = row
        self._read_at = self._monotonic()

    def _apply(self, row: _Row) -> None:
        """Make the local breaker follow the shared generation ``row`` (without publishing)."""
        breaker = self.breaker
        self._gen = row.gen
        self._full_until = 0.0
        self._adopting = True
        try:
            if row.state == "open":
                retry_in = max(row.open_until - row.now, 0.0) / 1000.0
                breaker.adopt_open(retry_in, f"opened by {row.tripped_by or 'another worker'}")
            else:
                breaker.adopt_closed(f"closed by {row.closed_by or 'another worker'}")
        finally:
            self._adopting = False

    def _slot_ttl(self) -> int:
        """A probe slot a dead worker held comes back after the breaker's reset timeout."""
        return max(int(self.breaker.reset_timeout * 1000), 1000)

    def _now(self) -> str:
        return "" if self._wall is None else repr(self._wall() * 1000.0)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(job)
        except RuntimeError:  # no event loop (a breaker driven by hand): nothing to share with
            job.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _went_away(self, exc: BaseException) -> None:
        now = self._monotonic()
        self.due = now + self.retry_interval
        if self._down_since is None:
            self._down_since = now
            _log.warning(
                "%s: Redis unavailable (%s); the circuit breaker decides locally until it is back",
                self.name,
                type(exc).__name__,
            )

    def _came_back(self) -> None:
        if self._down_since is not None:
            away = self._monotonic() - self._down_since
            self._down_since = None
            _log.warning(
                "%s: Redis is back after %.0fs; circuit state shared again", self.name, away
            )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _kind(breaker: CircuitBreaker, exc: BaseException | None, duration: float) -> str:
    """A probe outcome as the breaker would judge it: ok, slow, fail or none."""
    if exc is not None:
        if breaker.counts_against(exc):
            return "fail"
        if not isinstance(exc, IntegrationError) or isinstance(exc, LocalRejection):
            return "none"
    slow = breaker.slow_call_duration
    if slow is not None and duration >= slow:
        return "fail" if breaker.slow_call_rate is None else "slow"
    return "ok"


def _reason(exc: BaseException | None, kind: str) -> str:
    if kind == "fail":
        return f"probe failed: {type(exc).__name__ if exc is not None else 'slow call'}"
    return "probes judged"
