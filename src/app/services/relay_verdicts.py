"""
What the relay does with a claimed command it does not simply deliver: one `Decision` per entry.

Decisions, from the entry and the error's type (`domain.errors`):

=================================  ===============================================================
outcome                            verdict
=================================  ===============================================================
success                            (none: the relay marks it delivered)
CircuitOpenError                   ``PAUSE`` the integration for ``retry_in``; attempt refunded
other LocalRejection               ``RELEASE`` after a short backoff, attempt refunded
TransientError, RetryExhausted     ``RETRY`` with backoff (``RateLimited.retry_after`` honoured)
TokenRefreshFailed                 ``RETRY`` with backoff, like an outage: no token could be had,
                                   so nothing was sent; the breaker counts it, the command waits
                                   for the identity service or a fixed secret (``DEAD`` only
                                   after ``max_attempts``)
OutcomeUnknown (or a transient     redeliverable command (payments, calls, moves, updates by id,
error after the request was sent)  upserts the CRM dedupes): ``RETRY`` with the same idempotency
                                   key; otherwise ``DEAD``: never send twice
                                   (`app.services.delivery_rules`, shared with send-now)
PermanentError                     ``DEAD`` with the vendor's error (an `AuthenticationFailed`
                                   with a fresh token too: the vendor refused it)
claimed after a lease expired      redeliverable: send again with the same key; otherwise
(``entry.lease_expired``)          ``DEAD``, unsent: the killed attempt may have reached the vendor
undecodable payload                ``DEAD``
StartCall first enqueued longer    ``DEAD`` "too old to reconcile safely" when it may have been
ago than ``call_lookback``         sent before: Vapi's key look-back would miss that call and ring
                                   the patient again
attempts >= max_attempts           ``DEAD`` with the last error
claimed with attempts >            ``DEAD`` "attempts exhausted while its outcome could not be
max_attempts                       recorded", unsent: attempts count at claim, so a store that
                                   cannot record outcomes resends at most ``max_attempts`` times
=================================  ===============================================================

Every function here is pure: the relay (`app.services.outbox_relay`) records what they decide.
Reasons are stored for operators and logged, so they never quote a payload (patient data); a
dead letter's reason starting ``outcome unknown`` is what ``portico outbox requeue`` leaves alone.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from ...domain.backoff import full_jitter
from ...domain.commands import Command, StartCall
from ...domain.errors import (
    CircuitOpenError,
    IntegrationError,
    InvalidValue,
    LocalRejection,
    PermanentError,
    RateLimited,
    RetryExhaustedError,
    TokenRefreshFailed,
)
from ...domain.outbox import OutboxEntry
from .delivery_rules import may_send_again
from .relay_settings import RelaySettings


__all__ = [
    "Decision",
    "Verdict",
    "after_failure",
    "before_sending",
    "maybe_sent_before",
    "undecodable",
]


class Verdict(enum.Enum):
    """Where an entry the relay did not deliver goes next."""

    RETRY = "retry"  # an attempt was spent: due again after the backoff
    RELEASE = "release"  # nothing reached the vendor: due again after ``delay``, attempt refunded
    PAUSE = "pause"  # the integration's circuit is open: released, and not claimed meanwhile
    DEAD = "dead"  # parked as a dead letter with the reason

    @property
    def attempted(self) -> bool:
        """Whether the entry's attempt counts (only a retry: a release or pause refunds it)."""
        return self is Verdict.RETRY


@attrs.frozen
class Decision:
    """A verdict, its reason (stored and logged: no payload) and the delay before the next try."""

    verdict: Verdict
    reason: str
    delay: float = 0.0


def undecodable(err: InvalidValue) -> Decision:
    """A stored payload that is no longer a command: dead letter."""
    return Decision(Verdict.DEAD, f"undecodable command: {err}")


def maybe_sent_before(entry: OutboxEntry) -> bool:
    """
    Whether an earlier attempt of ``entry`` may have reached the vendor: a retry, a lease that
    ran out, or a requeued dead letter (its error stays recorded).
    """
    return entry.attempts > 1 or entry.lease_expired or entry.last_error is not None


def before_sending(
    entry: OutboxEntry, command: Command, settings: RelaySettings, *, now: float
) -> Decision | None:
    """
    The verdict on ``entry`` before it is sent, or None to send it.

    ``now`` is epoch seconds, compared with ``entry.enqueued_at``.
    """
    if (
        isinstance(command, StartCall)
        and maybe_sent_before(entry)
        and now - entry.enqueued_at > settings.call_lookback
    ):
        return Decision(
            Verdict.DEAD,
            f"too old to reconcile safely: first enqueued over {settings.call_lookback:g}s ago "
            "and maybe sent before; the vendor's key look-back would not find that call",
        )
    if entry.lease_expired and not command.redeliverable:
        return Decision(Verdict.DEAD, "outcome unknown after lease expiry (maybe sent); not resent")
    if entry.attempts > settings.max_attempts:
        # Attempts count at claim, so only leases that ran out get here: every send went out
        # and no outcome was recorded. Park it rather than resend once per lease for ever.
        return Decision(
            Verdict.DEAD,
            f"attempts exhausted while its outcome could not be recorded: sent "
            f"{entry.attempts - 1} times (max_attempts {settings.max_attempts}), each lease "
            "ran out without an outcome",
        )
    return None


def after_failure(
    entry: OutboxEntry,
    command: Command,
    err: Exception,
    settings: RelaySettings,
    *,
    uniform: Callable[[float, float], float],
) -> Decision:
    """
    The verdict on ``entry`` whose send raised ``err``.

    ``uniform(a, b)`` draws the backoff's jitter (`domain.backoff.full_jitter`).
    """
    if isinstance(err, CircuitOpenError):
        return Decision(Verdict.PAUSE, str(err), err.retry_in)
    if isinstance(err, LocalRejection):
        return Decision(Verdict.RELEASE, str(err), _backoff(1, settings, uniform))
    if isinstance(err, PermanentError) and not isinstance(err, TokenRefreshFailed):
        return Decision(Verdict.DEAD, str(err))
    # A failed token refresh (``request_sent=False``: the vendor call was never made) is an
    # outage of the identity service or a secret being rotated: back off, never a tight loop.
    if not may_send_again(command, err):
        return Decision(
            Verdict.DEAD, f"outcome unknown, not resent (the vendor may have applied it): {err}"
        )
    # Only a port error's text is stored: any other exception's message may quote a payload.
    text = str(err) if isinstance(err, IntegrationError) else f"{type(err).__name__}"
    if entry.attempts >= settings.max_attempts:
        return Decision(
            Verdict.DEAD, f"gave up after {entry.attempts} attempts; last error: {text}"
        )
    delay = _backoff(max(entry.attempts, 1), settings, uniform)
    root = err.last_error if isinstance(err, RetryExhaustedError) else err
    if isinstance(root, RateLimited) and root.retry_after is not None:
        delay = max(delay, root.retry_after)
    return Decision(Verdict.RETRY, text, delay)


def _backoff(
    retry: int, settings: RelaySettings, uniform: Callable[[float, float], float]
) -> float:
    return full_jitter(
        retry,
        base_delay=settings.base_delay,
        max_delay=settings.max_delay,
        multiplier=settings.multiplier,
        uniform=uniform,
    )
