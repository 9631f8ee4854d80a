"""
Carry out a `domain.commands` command through the port it names: the one command-to-call table.

Shared by the relay (replaying stored commands) and the application's dispatch service (sending
now), so both call the vendor the same way, with the command's idempotency key.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

from ..domain.commands import (
    AddNote,
    Command,
    CreateCheckoutLink,
    CreateDeal,
    CreatePaymentIntent,
    IssueRefund,
    MoveDeal,
    SendMessage,
    StartCall,
    UpdateContact,
    UpsertContact,
)
from ..domain.errors import LocalRejection
from .crm import CRMPort
from .messaging import MessagingPort
from .payments import PaymentPort
from .voice import VoicePort


__all__ = ["CommandPorts", "execute"]

P = TypeVar("P")


class CommandPorts(NamedTuple):
    """The ports commands go through; an integration left None cannot be served."""

    messaging: MessagingPort | None = None
    crm: CRMPort | None = None
    payments: PaymentPort | None = None
    voice: VoicePort | None = None

    def serves(self) -> frozenset[str]:
        """The integration names (``command.integration``) that have a port."""
        return frozenset(name for name, port in self._asdict().items() if port is not None)


def _need(port: P | None, command: Command) -> P:
    if port is None:
        raise LocalRejection(f"no {command.integration} port configured", integration="outbox")
    return port


async def execute(command: Command, ports: CommandPorts) -> object:
    """
    Call the port method for ``command`` and return what it returned.

    Raises:
        LocalRejection: no port for the command's integration (nothing was sent).
        IntegrationError: whatever the port raised.
    """
    match command:
        case SendMessage():
            return await _need(ports.messaging, command).send(command.keyed_message())
        case UpsertContact(draft=draft):
            return await _need(ports.crm, command).upsert_contact(draft)
        case UpdateContact(contact_id=contact_id, lifecycle_stage=stage):
            return await _need(ports.crm, command).update_contact(
                contact_id, properties=command.properties, lifecycle_stage=stage
            )
        case CreateDeal(draft=draft):
            return await _need(ports.crm, command).create_deal(draft)
        case MoveDeal(deal_id=deal_id, stage=stage):
            return await _need(ports.crm, command).move_deal(deal_id, stage)
        case AddNote(contact_id=contact_id, body=body):
            return await _need(ports.crm, command).add_note(contact_id, body)
        case CreatePaymentIntent(request=request):
            return await _need(ports.payments, command).create_payment_intent(request)
        case CreateCheckoutLink(request=request):
            return await _need(ports.payments, command).create_checkout_link(request)
        case IssueRefund(request=request):
            return await _need(ports.payments, command).refund(request)
        case StartCall():
            return await _need(ports.voice, command).start_call(command.keyed_request())
