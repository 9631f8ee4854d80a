"""
Send a command now, or park it in the outbox: the application's one place to make that choice.

Per command kind the mode is one of:

- ``SEND_NOW`` (the default for every kind): call the vendor at once and hand the caller the
  result (a checkout link, a receipt); on a failure that says "later" (transient, breaker open,
  bulkhead or local rate limit, retries exhausted) the command goes to the outbox and the caller
  gets ``queued``. Nothing accepted is lost, and the caller is never blocked on an outage.
- ``ALWAYS_ENQUEUE``: store first, the relay sends; for fire-and-forget work (notes, CRM sync).

A permanent error is raised to the caller (a fix is needed, a retry would fail the same way). An
unknown outcome is queued only for redeliverable commands (payments, calls, upserts: the vendor
dedupes the key); for the others it is raised, because a resend might reach the patient twice.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from domain.commands import Command
from domain.errors import (
    IntegrationError,
    LocalRejection,
    OutcomeUnknown,
    PermanentError,
    RetryExhaustedError,
    TransientError,
)
from ports.execute import CommandPorts, execute
from ports.outbox import Outbox


__all__ = ["DeliveryMode", "Dispatched", "OutboxDispatch"]


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


def _later(err: IntegrationError, command: Command) -> bool:
    if isinstance(err, PermanentError):
        return False
    if isinstance(err, OutcomeUnknown):
        return command.redeliverable
    if isinstance(err, TransientError) and err.request_sent and not command.redeliverable:
        return False  # the vendor may have acted: do not risk a second copy
    return isinstance(err, TransientError | LocalRejection | RetryExhaustedError)


class OutboxDispatch:
    """
    Deliver commands by mode, with the outbox as the safety net.

    Args:
        outbox: where commands wait for the relay.
        ports: the (resilient) ports used for send-now.
        modes: per ``command.kind`` overrides, e.g. ``{"add_note": DeliveryMode.ALWAYS_ENQUEUE}``.
        default: the mode of kinds not in ``modes`` (``SEND_NOW``).
    """

    def __init__(
        self,
        outbox: Outbox,
        ports: CommandPorts,
        *,
        modes: Mapping[str, DeliveryMode] | None = None,
        default: DeliveryMode = DeliveryMode.SEND_NOW,
    ) -> None:
        self.outbox = outbox
        self.ports = ports
        self.modes = dict(modes or {})
        self.default = default

    def mode_of(self, command: Command) -> DeliveryMode:
        """The mode that applies to ``command``."""
        return self.modes.get(command.kind, self.default)

    async def submit(self, command: Command, *, mode: DeliveryMode | None = None) -> Dispatched:
        """
        Send ``command`` now or enqueue it, by ``mode`` (else the configured mode of its kind).

        Raises:
            PermanentError: the vendor refused the command (it is not queued).
            OutcomeUnknown: a non-redeliverable command may have been applied (not queued).
            Conflict: the outbox already holds another command under this idempotency key.
        """
        if (mode or self.mode_of(command)) is DeliveryMode.ALWAYS_ENQUEUE:
            return Dispatched(command, sent=False, entry_id=await self.outbox.enqueue(command))
        try:
            result = await execute(command, self.ports)
        except IntegrationError as err:
            if not _later(err, command):
                raise
            entry_id = await self.outbox.enqueue(command)
            return Dispatched(command, sent=False, entry_id=entry_id, reason=str(err))
        return Dispatched(command, sent=True, result=result)
