"""
Carry out a `domain.commands` command through the port it names: the one command-to-call table.

Shared by the relay (replaying stored commands) and the application's dispatch service (sending
now), so both call the vendor the same way, with the command's idempotency key.

`CommandPorts` is the one list of the ports commands go through, keyed by the names commands use
as ``command.integration``; `PORTS` is the same list at run time (name -> port Protocol), for
code that needs "every port" (wiring, closing, contract suites). Adding a port is one entry in
`CommandPorts`, plus its commands and their rows in `execute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypedDict, TypeVar, get_type_hints

from ..domain.commands import (
    AddNote,
    Command,
    CreateCheckoutLink,
    CreateDeal,
    CreatePaymentIntent,
    IssueRefund,
    MoveDeal,
    SendEmail,
    SendMessage,
    StartCall,
    UpdateContact,
    UpsertContact,
)
from ..domain.errors import LocalRejection
from .crm import CRMPort
from .email import EmailPort
from .messaging import MessagingPort
from .payments import PaymentPort
from .voice import VoicePort


__all__ = ["PORTS", "CommandPorts", "execute", "served"]

P = TypeVar("P")


class CommandPorts(TypedDict, total=False):
    """
    The ports commands go through, keyed by ``command.integration``.

    A name left out is an integration that cannot be served (`execute` refuses its commands
    locally; a relay leaves them pending).
    """

    messaging: MessagingPort
    crm: CRMPort
    payments: PaymentPort
    voice: VoicePort
    email: EmailPort


# integration name -> port Protocol, in declaration order: `CommandPorts` read at run time.
PORTS: Mapping[str, type] = MappingProxyType(get_type_hints(CommandPorts))


def served(ports: CommandPorts) -> frozenset[str]:
    """The integration names (``command.integration``) that ``ports`` has a port for."""
    return frozenset(name for name, port in ports.items() if port is not None)


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
            return await _need(ports.get("messaging"), command).send(command.keyed_message())
        case UpsertContact(draft=draft):
            return await _need(ports.get("crm"), command).upsert_contact(draft)
        case UpdateContact(contact_id=contact_id, lifecycle_stage=stage):
            return await _need(ports.get("crm"), command).update_contact(
                contact_id, properties=command.properties, lifecycle_stage=stage
            )
        case CreateDeal(draft=draft):
            return await _need(ports.get("crm"), command).create_deal(draft)
        case MoveDeal(deal_id=deal_id, stage=stage):
            return await _need(ports.get("crm"), command).move_deal(deal_id, stage)
        case AddNote(contact_id=contact_id, body=body):
            return await _need(ports.get("crm"), command).add_note(contact_id, body)
        case CreatePaymentIntent(request=request):
            return await _need(ports.get("payments"), command).create_payment_intent(request)
        case CreateCheckoutLink(request=request):
            return await _need(ports.get("payments"), command).create_checkout_link(request)
        case IssueRefund(request=request):
            return await _need(ports.get("payments"), command).refund(request)
        case StartCall():
            return await _need(ports.get("voice"), command).start_call(command.keyed_request())
        case SendEmail():
            return await _need(ports.get("email"), command).send(command.keyed_message())
