"""
The relay: drains the outbox through the (resilient) ports, once per command, in order per subject.

Decisions per attempt, from the error's type (`domain.errors`):

=================================  ===============================================================
outcome                            relay does
=================================  ===============================================================
success                            mark delivered
CircuitOpenError                   pause the integration for ``retry_in``; release, attempt refunded
other LocalRejection               release after a short backoff, attempt refunded
TransientError, RetryExhausted     retry with backoff (``RateLimited.retry_after`` honoured)
OutcomeUnknown (or a transient     redeliverable command (payments, calls, moves, updates by id,
error after the request was sent)  upserts the CRM dedupes): retry with the same idempotency key;
                                   otherwise dead letter: never send twice
PermanentError                     dead letter with the vendor's error
claimed after a lease expired      redeliverable: send again with the same key; otherwise dead
(``entry.lease_expired``)          letter, unsent: the killed attempt may have reached the vendor
undecodable payload                dead letter
StartCall first enqueued longer    dead letter "too old to reconcile safely" when it may have been
ago than ``call_lookback``         sent before: Vapi's key look-back would miss that call and ring
                                   the patient again
attempts >= max_attempts           dead letter with the last error
=================================  ===============================================================

Order: the outbox leases only the oldest pending command per ordering key, so one batch holds at
most one command per subject; the relay sends a batch concurrently and the next command of a
subject becomes claimable only once the previous one is delivered or dead.

Backoff between attempts is the resilience library's (`RetryPolicy.backoff`: exponential with
full jitter), so the relay and in-call retries spread load the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import attrs

from ...domain.command_codec import decode_command
from ...domain.commands import Command, StartCall
from ...domain.errors import (
    CircuitOpenError,
    IntegrationError,
    InvalidValue,
    LocalRejection,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    RetryExhaustedError,
)
from ...domain.outbox import OutboxEntry
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.crm import CRMPort
from ...ports.execute import CommandPorts, execute
from ...ports.messaging import MessagingPort
from ...ports.outbox import Outbox
from ...ports.payments import PaymentPort
from ...ports.voice import VoicePort
from ..resilience import RetryPolicy
from .lease import DEFAULT_LEASE_SECONDS, check_lease


__all__ = ["CALL_LOOKBACK", "OutboxRelay", "RelayStats"]

log = logging.getLogger("portico.outbox.relay")
# Vapi's key look-back (adapters.vapi.adapter.KEY_LOOKBACK): how far back a keyed start finds the
# call its key already started.
CALL_LOOKBACK = 24 * 3600.0


@attrs.define
class RelayStats:
    """Running totals of one relay, for the progress line and tests."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0
    paused: int = 0
    lost_leases: int = 0
    batches: int = 0


@attrs.define
class _Verdict:
    kind: str  # "retry" | "dead" | "pause" | "release"
    error: str
    delay: float = 0.0


class OutboxRelay:
    """
    Claims commands from an `Outbox`, sends each through its port, and records the outcome.

    Args:
        outbox: where commands wait.
        messaging, crm, payments, voice: the ports (wrapped in resilience by the container);
            commands of an integration without a port stay pending.
        batch_size: entries claimed at a time; also the number sent concurrently.
        lease_seconds: how long a claim is exclusive. Must exceed every resilient port's worst
            case (`adapters.outbox.lease.check_lease`; ValueError otherwise), so a slow send is
            never taken over while still in flight.
        max_attempts: attempts before a transient failure becomes a dead letter.
        base_delay, max_delay, multiplier: exponential backoff between attempts, computed by
            `RetryPolicy.backoff` (a delay drawn from ``[0, min(max_delay, base * mult**n)]``).
        idle_delay: how long to wait when nothing is due.
        call_lookback: seconds after its first enqueue a StartCall that may already have been
            sent is dead-lettered instead of resent (the voice vendor's key look-back).
        clock: the time source: `Clock.monotonic` for pauses, `Clock.sleep` between batches,
            `Clock.now` compared with ``enqueued_at``; a `FakeClock` makes tests instant.
        uniform: ``uniform(a, b)`` for the jitter (``random.uniform``); tests pin it.
        rng: alternatively a ``random()``-like source in ``[0, 1)`` for the jitter.
        on_progress: called with the stats after each batch.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        messaging: MessagingPort | None = None,
        crm: CRMPort | None = None,
        payments: PaymentPort | None = None,
        voice: VoicePort | None = None,
        batch_size: int = 32,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        max_attempts: int = 12,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        multiplier: float = 2.0,
        idle_delay: float = 1.0,
        call_lookback: float = CALL_LOOKBACK,
        clock: Clock = SYSTEM_CLOCK,
        uniform: Callable[[float, float], float] = random.uniform,
        rng: Callable[[], float] | None = None,
        on_progress: Callable[[RelayStats], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.ports = CommandPorts(messaging, crm, payments, voice)
        self.integrations = self.ports.serves()
        self.batch_size = batch_size
        check_lease(lease_seconds, (messaging, crm, payments, voice))
        self.lease_seconds = lease_seconds
        self.call_lookback = call_lookback
        self._wall_clock = epoch_seconds(clock)
        self.max_attempts = max_attempts
        self.backoff = RetryPolicy(
            attempts=max_attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            multiplier=multiplier,
            uniform=uniform if rng is None else (lambda a, b: a + (b - a) * rng()),
        )
        self.idle_delay = idle_delay
        self._clock, self._sleep = clock.monotonic, clock.sleep
        self.on_progress = on_progress
        self._paused_until: dict[str, float] = {}
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
        entries = await self.outbox.claim(
            limit=self.batch_size, lease_seconds=self.lease_seconds, integrations=active
        )
        if entries:
            outcomes = await asyncio.gather(
                *(self._handle(e) for e in entries), return_exceptions=True
            )
            for entry, outcome in zip(entries, outcomes, strict=True):
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
        while stop is None or not stop.is_set():
            try:
                if await self.run_once():
                    continue
            except Exception as err:  # noqa: BLE001 - a store hiccup must not kill the relay
                log.error("outbox claim failed, retrying in %.1fs: %r", self.idle_delay, err)
                await self._sleep(self.idle_delay)
                continue
            if until_idle and not await self._backlog():
                return
            await self._sleep(self._idle_wait())

    async def _backlog(self) -> int:
        status = await self.outbox.status()
        return sum(b.pending for b in status.integrations if b.integration in self.integrations)

    def _idle_wait(self) -> float:
        now = self._clock()
        ends = [t - now for t in self._paused_until.values() if t > now]
        return max(0.0, min([self.idle_delay, *ends]))

    # ------------------------------------------------------------ one entry

    async def _handle(self, entry: OutboxEntry) -> None:
        try:
            command = decode_command(entry.payload, enqueued_at=entry.enqueued_at)
        except InvalidValue as err:
            await self._settle(entry, _Verdict("dead", f"undecodable command: {err}"))
            return
        if self._too_old_to_reconcile(entry, command):
            reason = (
                f"too old to reconcile safely: first enqueued over {self.call_lookback:g}s ago "
                "and maybe sent before; the vendor's key look-back would not find that call"
            )
            await self._settle(entry, _Verdict("dead", reason))
            return
        if entry.lease_expired and not command.redeliverable:
            reason = "outcome unknown after lease expiry (maybe sent); not resent"
            await self._settle(entry, _Verdict("dead", reason))
            return
        if self._paused_until.get(command.integration, 0.0) > self._clock():
            delay = self._paused_until[command.integration] - self._clock()
            await self._settle(entry, _Verdict("release", "circuit open", delay))
            return
        try:
            await execute(command, self.ports)
        except Exception as err:  # noqa: BLE001 - every failure must end in a recorded verdict
            await self._settle(entry, self._judge(entry, command, err))
            return
        if await self.outbox.mark_delivered(entry):
            self.stats.delivered += 1
        else:
            self._lost(entry)

    def _too_old_to_reconcile(self, entry: OutboxEntry, command: Command) -> bool:
        # An earlier attempt may have reached the vendor: a retry, a lease that ran out, or a
        # requeued dead letter (its error stays recorded).
        maybe_sent = entry.attempts > 1 or entry.lease_expired or entry.last_error is not None
        age = self._wall_clock() - entry.enqueued_at
        return isinstance(command, StartCall) and maybe_sent and age > self.call_lookback

    def _judge(self, entry: OutboxEntry, command: Command, err: Exception) -> _Verdict:
        if isinstance(err, CircuitOpenError):
            until = self._clock() + err.retry_in
            self._paused_until[command.integration] = max(
                until, self._paused_until.get(command.integration, 0.0)
            )
            return _Verdict("pause", str(err), err.retry_in)
        if isinstance(err, LocalRejection):
            return _Verdict("release", str(err), self.backoff.backoff(1))
        if isinstance(err, PermanentError):
            return _Verdict("dead", str(err))
        root = err.last_error if isinstance(err, RetryExhaustedError) else err
        unknown = isinstance(root, OutcomeUnknown) or (
            isinstance(root, IntegrationError) and root.request_sent
        )
        if unknown and not command.redeliverable:
            return _Verdict(
                "dead", f"outcome unknown, not resent (the vendor may have applied it): {err}"
            )
        text = str(err) if isinstance(err, IntegrationError) else f"{type(err).__name__}"
        if entry.attempts >= self.max_attempts:
            return _Verdict("dead", f"gave up after {entry.attempts} attempts; last error: {text}")
        delay = self.backoff.backoff(max(entry.attempts, 1))
        if isinstance(root, RateLimited) and root.retry_after is not None:
            delay = max(delay, root.retry_after)
        return _Verdict("retry", text, delay)

    async def _settle(self, entry: OutboxEntry, verdict: _Verdict) -> None:
        if verdict.kind == "dead":
            ok = await self.outbox.dead_letter(entry, reason=verdict.error)
            self.stats.dead += ok
        else:
            attempted = verdict.kind == "retry"
            ok = await self.outbox.schedule_retry(
                entry, delay=verdict.delay, error=verdict.error, attempted=attempted
            )
            if attempted:
                self.stats.retried += ok
            else:
                self.stats.paused += ok
        log.log(
            logging.WARNING if verdict.kind == "dead" else logging.INFO,
            "outbox entry %s (%s, %s, attempt %d): %s in %.1fs: %s",
            entry.id,
            entry.kind,
            entry.integration,
            entry.attempts,
            verdict.kind,
            verdict.delay,
            verdict.error,
        )
        if not ok:
            self._lost(entry)

    def _lost(self, entry: OutboxEntry) -> None:
        self.stats.lost_leases += 1
        log.warning("outbox entry %s: lease expired before the outcome was recorded", entry.id)
