"""
The relay: drains the outbox through the (resilient) ports, once per command, in order per subject.

What becomes of a command that is not simply delivered (retry, release, pause, dead letter) is
decided in `app.services.relay_verdicts`; the relay claims, sends, and records those decisions.
Its knobs are one `RelaySettings` value.

Order: the outbox leases, per ordering key, a run of up to ``per_key`` consecutive pending
commands starting at the oldest (`Outbox.claim`). The relay sends different subjects' runs
concurrently and one run strictly one command after another, in seq order: the next is sent once
the previous reached the vendor or became a dead letter. Any other outcome (retry, release,
pause, a lost lease, a store failure) stops the run, and its later commands are given back
unsent (``schedule_retry(delay=0, error=None, attempted=False)``) to wait behind the head, as
is the rest of a run whose lease no longer has room for one more call at its worst
(``send_bound``), or whose relay is stopping or cancelled. A relay that dies mid-run cannot
give anything back: after the lease, its run's unsent commands come back ``lease_expired`` like
the one in flight (the store cannot tell them apart), so those not redeliverable are parked as
"maybe sent" for an operator to requeue; ``per_key`` bounds how many per subject (1: only the
one in flight).
With ``per_key=1`` a batch holds one command per subject, as before runs. The batch's deliveries
are recorded together (`Outbox.mark_delivered_many`) once every entry of it is decided: a run's
next command is sent before the previous one's success is recorded (see `_Deliveries`).

Backoff between attempts is `domain.backoff` (exponential with full jitter), the schedule of the
resilience library's in-call retries too, so both spread load the same way.

Each delivery runs with the correlation id stored with its command (`domain.correlation`), so the
log records of work done hours later carry the id of the webhook that caused it, and inside the
``observer``'s context (`ports.outbox.DeliveryObserver`: telemetry's span, linked to the trace
that enqueued the command).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

from ...domain.command_codec import decode_command
from ...domain.correlation import correlated
from ...domain.errors import CircuitOpenError, InvalidValue
from ...domain.outbox import OutboxEntry
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.execute import CommandPorts, execute, served
from ...ports.outbox import DeliveryObserver, DeliveryRecord, Outbox
from .relay_settings import RelaySettings
from .relay_verdicts import Decision, Verdict, after_failure, before_sending, undecodable


__all__ = ["OutboxRelay", "RelayStats"]

log = logging.getLogger("portico.outbox.relay")
PURGE_EVERY = 60.0  # seconds between retention passes that found less than a batch


class _Unobserved(DeliveryObserver, DeliveryRecord):
    """The observer of a relay built without one: records nothing."""

    @contextmanager
    def delivering(self, entry: OutboxEntry) -> Iterator[DeliveryRecord]:
        """No context to speak of."""
        yield self

    def record(self, outcome: str, error: BaseException | None = None) -> None:
        """Nothing to record."""


_UNOBSERVED = _Unobserved()


class _Deliveries:
    """
    The sent entries of one batch, recorded in one `Outbox.mark_delivered_many` once every entry
    of the batch is decided (sent, settled otherwise, or failed), so a batch costs the store one
    transaction for its successes instead of one each. The last success is recorded when the
    slowest run of the batch ends, which is when the relay moved on to the next claim anyway;
    the lease covers that (a send starts only while the lease has room for it at its worst).

    Recording comes after the next entry of a run: an entry that reached the vendor lets its
    run go on at once, its success recorded with the batch's. The vendor still sees the run in
    order (a send starts only after the previous one returned). A relay that dies before the
    recording leaves the whole run leased: after the lease, the next claim gets its entries back
    with ``lease_expired`` (resent with their keys, or parked as "maybe sent"), as for any batch.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._decided: set[str] = set()
        self._all_decided = asyncio.Event()
        self._sent: list[OutboxEntry] = []
        self._recorded: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        if not size:
            self._all_decided.set()

    def decided(self, entry: OutboxEntry) -> None:
        """``entry`` is decided (again: no change)."""
        self._decided.add(entry.id)
        if len(self._decided) >= self._size:
            self._all_decided.set()

    async def delivered(self, entry: OutboxEntry) -> bool:
        """``entry`` reached the vendor: True once recorded, False if its lease was lost."""
        self._sent.append(entry)
        self.decided(entry)
        return entry.id in await asyncio.shield(self._recorded)

    async def record(self, outbox: Outbox) -> None:
        """Once all are decided, record the successes; a store failure reaches each waiter."""
        try:
            await self._all_decided.wait()
            recorded = await outbox.mark_delivered_many(self._sent) if self._sent else set()
        except asyncio.CancelledError:
            self._recorded.cancel()
            raise
        except Exception as err:
            self._recorded.set_exception(err)  # each sent entry's task raises it: not recorded
            raise
        self._recorded.set_result(recorded)


class _Step(enum.Enum):
    """How the send of one entry of a run ended, for the entries after it."""

    SENT = "sent"  # reached the vendor: the next is sent
    ON = "on"  # a dead letter, recorded: the next is sent (a poisoned command blocks no one)
    STOP = "stop"  # any other verdict, or a lost lease: the rest of the run is given back


@attrs.define
class _Turn:
    """
    One entry's place in its key's run: it is sent only after the one before it (``previous``,
    None for a run's first) went on, and only while the lease (``lease_ends``, on the relay's
    monotonic clock) has room for one more send.
    """

    previous: asyncio.Future[bool] | None
    lease_ends: float
    done: asyncio.Future[bool] = attrs.field(
        factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def follows(self) -> bool:
        """Whether an entry of the run comes before this one."""
        return self.previous is not None

    async def previous_went_on(self) -> bool:
        """Wait for the entry before this one; True when it let the run go on (or none)."""
        return True if self.previous is None else await self.previous

    def went_on(self, goes_on: bool) -> None:
        """Tell the next entry whether to go on; only the first word counts."""
        if not self.done.done():
            self.done.set_result(goes_on)


def _turns(entries: list[OutboxEntry], lease_ends: float) -> Iterator[tuple[OutboxEntry, _Turn]]:
    """Each entry with its turn: chained within a key's run in seq order, keys independent."""
    last: dict[str, _Turn] = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        before = last.get(entry.ordering_key)
        turn = _Turn(None if before is None else before.done, lease_ends)
        last[entry.ordering_key] = turn
        yield entry, turn


@attrs.define
class RelayStats:
    """Running totals of one relay, for the progress line and tests."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    paused: int = 0
    lost_leases: int = 0
    batches: int = 0
    purged: int = 0
    released: int = 0  # later entries of a stopped run, given back unsent


class OutboxRelay:
    """
    Claims commands from an `Outbox`, sends each through its port, and records the outcome.

    Args:
        outbox: where commands wait.
        ports: the ports by integration name (wrapped in resilience by the container); commands
            of an integration without a port stay pending.
        settings: batch size, lease, idle wait, attempts, backoff, call look-back.
        clock: the time source: `Clock.monotonic` for pauses, `Clock.sleep` between batches,
            `Clock.now` compared with ``enqueued_at``; a `FakeClock` makes tests instant.
        uniform: ``uniform(a, b)`` for the backoff's jitter (``random.uniform``); tests pin it.
        on_progress: called with the stats after each batch.
        observer: watches each delivery (telemetry's spans, which `build_relay` passes); None
            observes nothing.
        send_bound: the seconds one send may take at its worst; a later entry of a run is sent
            only while the batch's lease has more than that left, else it and the rest of its
            run are given back unsent. `build_relay` passes the slowest port pipeline's worst
            case (`app.wiring.leases.relay_send_bound`); 0 sends while the lease lasts.

    The lease is checked against the ports' worst cases where the relay is built
    (`app.wiring.outbox.build_relay`): the relay sees ports, not their pipelines.
    """

    def __init__(
        self,
        outbox: Outbox,
        ports: CommandPorts,
        settings: RelaySettings | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        uniform: Callable[[float, float], float] = random.uniform,
        on_progress: Callable[[RelayStats], None] | None = None,
        observer: DeliveryObserver | None = None,
        send_bound: float = 0.0,
    ) -> None:
        self.outbox = outbox
        self.send_bound = send_bound
        self.observer = observer if observer is not None else _UNOBSERVED
        self.ports = ports
        self.integrations = served(ports)
        self.settings = settings if settings is not None else RelaySettings()
        self.on_progress = on_progress
        self._clock, self._sleep = clock.monotonic, clock.sleep
        self._wall_clock = epoch_seconds(clock)
        self._uniform = uniform
        self._paused_until: dict[str, float] = {}
        self._next_purge = float("-inf")
        self._stop: asyncio.Event | None = None
        self.stats = RelayStats()

    # ------------------------------------------------------------ loop

    def active_integrations(self) -> frozenset[str]:
        """The integrations whose breaker is not known to be open right now."""
        now = self._clock()
        return frozenset(i for i in self.integrations if self._paused_until.get(i, 0.0) <= now)

    async def run_once(self) -> int:
        """Claim one batch and settle every entry in it; returns how many were claimed."""
        active = self.active_integrations()
        if not active:
            return 0
        lease_ends = self._clock() + self.settings.lease_seconds  # taken before: never later
        entries = await self.outbox.claim(
            limit=self.settings.batch_size,
            lease_seconds=self.settings.lease_seconds,
            integrations=active,
            per_key=self.settings.per_key,
        )
        if entries:
            batch = _Deliveries(len(entries))
            turns = list(_turns(entries, lease_ends))
            first, *outcomes = await asyncio.gather(
                batch.record(self.outbox),
                *(self._handle(e, batch, turn) for e, turn in turns),
                return_exceptions=True,
            )
            if isinstance(first, BaseException) and not isinstance(first, Exception):
                raise first  # cancelled, not a store failure (each entry logs that below)
            for (entry, _), outcome in zip(turns, outcomes, strict=True):
                if isinstance(outcome, BaseException):  # the store failed: the lease will expire
                    log.error("outbox entry %s: outcome not recorded: %r", entry.id, outcome)
            self.stats.batches += 1
            if self.on_progress is not None:
                self.on_progress(self.stats)
        return len(entries)

    async def run(self, *, stop: asyncio.Event | None = None, until_idle: bool = False) -> None:
        """
        Relay until ``stop`` is set, or with ``until_idle`` until no command of a served
        integration is pending (dead letters do not count).
        """
        idle = self.settings.idle_delay
        self._stop = stop  # once set, the batch's runs end after the sends under way
        while stop is None or not stop.is_set():
            await self.purge_delivered()
            try:
                if await self.run_once():
                    continue
            except Exception as err:  # noqa: BLE001 - a store hiccup must not kill the relay
                log.error("outbox claim failed, retrying in %.1fs: %r", idle, err)
                await self._sleep(idle)
                continue
            if until_idle and not await self._backlog():
                return
            await self._sleep(self._idle_wait())

    async def purge_delivered(self) -> int:
        """
        One retention pass, when due: delete up to ``purge_batch`` commands delivered longer
        than ``delivered_retention`` ago; returns how many. A full batch makes the next pass due
        at once (between claims), a short one a minute later; a failure is logged and retried
        then. Dead letters are never purged here.
        """
        retention, batch = self.settings.delivered_retention, self.settings.purge_batch
        now = self._clock()
        if not retention or now < self._next_purge:
            return 0
        try:
            purged = await self.outbox.purge_delivered(
                finished_before=self._wall_clock() - retention, limit=batch
            )
        except Exception as err:  # noqa: BLE001 - retention must never stop deliveries
            log.warning("outbox retention pass failed, next in %.0fs: %r", PURGE_EVERY, err)
            purged = 0
        self._next_purge = now if purged >= batch else now + PURGE_EVERY
        self.stats.purged += purged
        return purged

    async def _backlog(self) -> int:
        status = await self.outbox.status()
        return sum(b.pending for b in status.integrations if b.integration in self.integrations)

    def _idle_wait(self) -> float:
        now = self._clock()
        ends = [t - now for t in self._paused_until.values() if t > now]
        return max(0.0, min([self.settings.idle_delay, *ends]))

    # ------------------------------------------------------------ one entry

    async def _handle(self, entry: OutboxEntry, batch: _Deliveries, turn: _Turn) -> None:
        goes_on = False  # whether the next entry of the run may be sent after this one
        try:
            try:
                went_on = await turn.previous_went_on()
            except asyncio.CancelledError:  # unsent: give it back now rather than at lease end
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._release(entry, "the relay was cancelled"))
                raise
            if not went_on:
                await self._release(entry, "an earlier command of its key was not delivered")
                return
            if turn.follows and self._stop is not None and self._stop.is_set():
                await self._release(entry, "the relay is stopping")
                return
            if turn.follows and self._clock() + self.send_bound >= turn.lease_ends:
                await self._release(entry, "the lease had no room left for another send")
                return
            with correlated(entry.correlation_id), self.observer.delivering(entry) as delivery:
                step = await self._deliver(entry, delivery)
                if step is not _Step.SENT:
                    goes_on = step is _Step.ON
                    return
                turn.went_on(True)  # the next of the run is sent now; this one recorded later
                if not await batch.delivered(entry):
                    delivery.record("lost_lease")
                    self._lost(entry)
                    return
                self.stats.delivered += 1
                delivery.record("delivered")
                log.debug(
                    "outbox entry %s (%s, %s, attempt %d): delivered",
                    entry.id,
                    entry.kind,
                    entry.integration,
                    entry.attempts,
                )
        finally:
            turn.went_on(goes_on)  # the first word stands: a sent entry already said go on
            batch.decided(entry)  # whatever happened, the batch's successes are not held up

    async def _release(self, entry: OutboxEntry, reason: str) -> None:
        """
        Give ``entry`` back unsent, its attempt refunded and its last error kept: it waits
        behind its key's head as it was.
        """
        if await self.outbox.schedule_retry(entry, delay=0.0, error=None, attempted=False):
            self.stats.released += 1
            log.debug("outbox entry %s: released unsent: %s", entry.id, reason)
        else:
            self._lost(entry)

    async def _deliver(self, entry: OutboxEntry, delivery: DeliveryRecord) -> _Step:
        """Send ``entry``: `_Step.SENT` when it reached the vendor, else its verdict is recorded."""
        try:
            command = decode_command(entry.payload, enqueued_at=entry.enqueued_at)
        except InvalidValue as err:
            return await self._settle(entry, undecodable(err), delivery, err)
        refused = before_sending(entry, command, self.settings, now=self._wall_clock())
        if refused is not None:
            return await self._settle(entry, refused, delivery)
        paused_for = self._paused_until.get(command.integration, 0.0) - self._clock()
        if paused_for > 0:
            decision = Decision(Verdict.RELEASE, "circuit open", paused_for)
            return await self._settle(entry, decision, delivery)
        try:
            await execute(command, self.ports)
        except Exception as err:  # noqa: BLE001 - every failure must end in a recorded verdict
            decision = after_failure(entry, command, err, self.settings, uniform=self._uniform)
            if isinstance(err, CircuitOpenError):
                self._pause(command.integration, err.retry_in)
            return await self._settle(entry, decision, delivery, err)
        return _Step.SENT

    def _pause(self, integration: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused_until[integration] = max(until, self._paused_until.get(integration, 0.0))

    async def _settle(
        self,
        entry: OutboxEntry,
        decision: Decision,
        delivery: DeliveryRecord,
        error: BaseException | None = None,
    ) -> _Step:
        """Record ``decision``; `_Step.ON` for a recorded dead letter (its run goes on)."""
        verdict = decision.verdict
        if verdict is Verdict.DEAD:
            ok = await self.outbox.dead_letter(entry, reason=decision.reason)
            self.stats.dead += ok
        else:
            ok = await self.outbox.schedule_retry(
                entry, delay=decision.delay, error=decision.reason, attempted=verdict.attempted
            )
            if verdict.attempted:
                self.stats.retried += ok
            else:
                self.stats.paused += ok
        log.log(
            logging.WARNING if verdict is Verdict.DEAD else logging.INFO,
            "outbox entry %s (%s, %s, attempt %d): %s in %.1fs: %s",
            entry.id,
            entry.kind,
            entry.integration,
            entry.attempts,
            verdict.value,
            decision.delay,
            decision.reason,
        )
        delivery.record(verdict.value if ok else "lost_lease", error)
        if not ok:
            self._lost(entry)
        return _Step.ON if ok and verdict is Verdict.DEAD else _Step.STOP

    def _lost(self, entry: OutboxEntry) -> None:
        self.stats.lost_leases += 1
        log.warning("outbox entry %s: lease expired before the outcome was recorded", entry.id)
