"""
Send a command now, or park it in the outbox: the application's one place to make that choice.

Per command kind the mode is one of:

- ``SEND_NOW`` (the default for every kind): call the vendor at once and hand the caller the
  result (a checkout link, a receipt); on a failure that says "later" (transient, breaker open,
  bulkhead or local rate limit, retries exhausted) the command goes to the outbox and the caller
  gets ``queued``. Nothing accepted is lost, and the caller is never blocked on an outage.
- ``ALWAYS_ENQUEUE``: store first, the relay sends; for fire-and-forget work (notes, CRM sync).

A permanent error is raised to the caller (a fix is needed, a retry would fail the same way). A
failure the vendor may have applied (`app.services.delivery_rules.maybe_applied`, the rule the
relay applies too) is queued only for redeliverable commands (payments, calls, updates by id, and
upserts the CRM dedupes: each command says so in ``redeliverable``); for the others it is
raised, because a resend might reach the patient twice.

Such an unknown-outcome entry waits ``settle_delay`` seconds (default 60) before the relay may
take it: a relay that reconciles by listing the vendor's records (Vapi has no idempotency keys;
the relay looks for the call before dialling again) must not look before the vendor shows the
first attempt. Remaining race: a vendor that takes longer than ``settle_delay`` to list the first
attempt can still get a second one from such a reconciling relay; vendors that honour the key
itself (Stripe) and writes by id are safe at any delay.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol

import attrs

from ...domain.commands import Command
from ...domain.errors import (
    IntegrationError,
    LocalRejection,
    OutcomeUnknown,
    RetryExhaustedError,
    TransientError,
)
from ...ports.execute import CommandPorts, execute
from ...ports.outbox import Outbox
from .delivery_rules import may_send_again, maybe_applied


__all__ = ["CommandDispatch", "DeliveryMode", "Dispatched", "OutboxDispatch"]


class DeliveryMode(enum.Enum):
    """How a command of a kind is delivered."""

    SEND_NOW = "send_now"
    ALWAYS_ENQUEUE = "always_enqueue"


@attrs.frozen
class Dispatched:
    """
    What became of a command: ``sent`` (with the port's ``result``) or ``queued`` (``entry_id``).

    ``reason`` says why a send-now command was queued (the error, safe to log).
    """

    command: Command = attrs.field(repr=False)
    sent: bool
    result: object | None = attrs.field(default=None, repr=False)
    entry_id: str | None = None
    reason: str | None = None

    @property
    def queued(self) -> bool:
        """True when the outbox holds the command for the relay."""
        return not self.sent


class CommandDispatch(Protocol):
    """What the application services need of `OutboxDispatch`: submit one command by mode."""

    async def submit(
        self,
        command: Command,
        *,
        mode: DeliveryMode | None = None,
        queue_instead: Command | None = None,
        delay: float = 0.0,
    ) -> Dispatched:
        """Send ``command`` now or enqueue it; see `OutboxDispatch.submit`."""


# Failures that say "later": the relay may try again. A permanent error would fail the same way;
# an unexpected response needs a fix. Both are raised to the caller.
_LATER = (TransientError, LocalRejection, RetryExhaustedError, OutcomeUnknown)


def _later(err: IntegrationError, command: Command) -> bool:
    # A failure the vendor may have applied is parked only if a second send cannot duplicate it.
    return isinstance(err, _LATER) and may_send_again(command, err)


class OutboxDispatch:
    """
    Deliver commands by mode, with the outbox as the safety net.

    Args:
        outbox: where commands wait for the relay.
        ports: the (resilient) ports used for send-now.
        modes: per ``command.kind`` overrides, e.g. ``{"add_note": DeliveryMode.ALWAYS_ENQUEUE}``.
        default: the mode of kinds not in ``modes`` (``SEND_NOW``).
        settle_delay: seconds an unknown-outcome command waits in the outbox before the relay
            may resend or reconcile it (``outbox.settle_delay``; 60).
    """

    def __init__(
        self,
        outbox: Outbox,
        ports: CommandPorts,
        *,
        modes: Mapping[str, DeliveryMode] | None = None,
        default: DeliveryMode = DeliveryMode.SEND_NOW,
        settle_delay: float = 60.0,
    ) -> None:
        if settle_delay < 0:
            raise ValueError("settle_delay must not be negative")
        self.settle_delay = settle_delay
        self.outbox = outbox
        self.ports = ports
        self.modes = dict(modes or {})
        self.default = default

    def mode_of(self, command: Command) -> DeliveryMode:
        """The mode that applies to ``command``."""
        return self.modes.get(command.kind, self.default)

    async def submit(
        self,
        command: Command,
        *,
        mode: DeliveryMode | None = None,
        queue_instead: Command | None = None,
        delay: float = 0.0,
    ) -> Dispatched:
        """
        Send ``command`` now or enqueue it, by ``mode`` (else the configured mode of its kind).

        ``queue_instead`` is what to park when a send-now attempt fails for later (or what to
        enqueue at once under ``ALWAYS_ENQUEUE``): e.g. a WhatsApp text is tried now, but a
        template is queued, because the relay cannot fall back and the 24-hour window for free
        text may have closed by the time the vendor is back. ``delay`` (seconds, enqueued commands
        only) keeps an enqueued command from the relay that long, e.g. the 30 s a vendor's
        throttle lasts.

        Raises:
            PermanentError: the vendor refused the command (it is not queued).
            OutcomeUnknown, TransientError, RetryExhaustedError: a non-redeliverable command
                may have been applied (`delivery_rules.maybe_applied`; it is not queued).
            UnexpectedResponse: the vendor's answer made no sense (not queued).
            Conflict: the outbox already holds another command under this idempotency key.
        """
        parked = queue_instead or command
        if (mode or self.mode_of(command)) is DeliveryMode.ALWAYS_ENQUEUE:
            entry_id = await self.outbox.enqueue(parked, delay=delay)
            return Dispatched(parked, sent=False, entry_id=entry_id)
        try:
            result = await execute(command, self.ports)
        except IntegrationError as err:
            if not _later(err, command):
                raise
            delay = self.settle_delay if maybe_applied(err) else 0.0
            entry_id = await self.outbox.enqueue(parked, delay=delay)
            return Dispatched(parked, sent=False, entry_id=entry_id, reason=str(err))
        return Dispatched(command, sent=True, result=result)
