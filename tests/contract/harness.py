"""
What a contract suite gets from an implementation: the port, plus vendor-side controls.

The suites call only port methods and these controls, so any implementation (a fake, a resilient
wrapper, an HTTP adapter over a mock transport) plugs in by registering factories in
``tests/contract/impls/<name>.py``::

    FACTORIES = {"payments": {"stripe-http": stripe_harness}}

where ``stripe_harness()`` returns an async context manager yielding a ``Harness``.

Every implementation's vendor account is set up the same way: the messaging account has exactly
one approved template, `TEMPLATE`, and the voice org exactly one assistant, `ASSISTANT_ID`; any
other name or id is unknown to the vendor. Everything else the suites need from the vendor's side
is a control method; each registered implementation implements every control of its port.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import attrs

from portico.domain.crm import DealStage
from portico.domain.messaging import DeliveryStatus
from portico.domain.voice import CallStatus


__all__ = [
    "ASSISTANT_ID",
    "MAILBOX",
    "TEMPLATE",
    "CRMControls",
    "Delivered",
    "EmailControls",
    "Factory",
    "Harness",
    "MessagingControls",
    "PaymentControls",
    "Registry",
    "VoiceControls",
]

P = TypeVar("P")

TEMPLATE = "hello_world"
ASSISTANT_ID = "5b0c6f2e-8a1d-4c3e-9f47-2d6a1b8e9c10"
MAILBOX = "clinic@contoso.example"  # the one mailbox of every email implementation's tenant


@attrs.frozen
class Delivered:
    """An email as its recipient received it."""

    subject: str
    attachments: tuple[tuple[str, bytes], ...]


@runtime_checkable
class EmailControls(Protocol):
    """What the recipients' mailboxes see."""

    async def delivered(self, address: str) -> list[Delivered]:
        """The messages accepted for ``address`` (to or cc), oldest first."""
        ...


@runtime_checkable
class MessagingControls(Protocol):
    """What the messaging provider does on its side."""

    async def advance(self, message_id: str, status: DeliveryStatus) -> None:
        """The provider reports ``status`` for a message (its status webhook, possibly late)."""
        ...

    async def close_window(self, phone: str) -> bool:
        """
        The patient at ``phone`` last wrote over 24 hours ago, so free-form text to them falls
        outside the customer-care window. Returns False when the channel has no such window
        (SMS), and then nothing changed.
        """
        ...


@runtime_checkable
class PaymentControls(Protocol):
    """What the patient does at the payment provider."""

    async def pay(self, intent_id: str) -> None:
        """The patient pays: the intent becomes SUCCEEDED with amount_received == amount."""
        ...


@runtime_checkable
class VoiceControls(Protocol):
    """What happens on the phone line."""

    async def progress(self, call_id: str, status: CallStatus) -> None:
        """The platform reports ``status`` for a call (ringing, in-progress, ended)."""
        ...

    async def refuse_number(self, phone: str) -> None:
        """The platform will not dial ``phone`` (its carrier's geo permissions, a blocklist)."""
        ...


@runtime_checkable
class CRMControls(Protocol):
    """What the CRM's administrators do."""

    async def refuse_property(self, name: str) -> None:
        """The CRM has no contact property ``name`` (deleted, or never defined)."""
        ...

    async def index_search(self) -> None:
        """Search catches up with every write so far (HubSpot's search lags behind writes)."""
        ...

    async def remove_stage(self, stage: DealStage) -> None:
        """The default pipeline no longer has the stage ``stage`` maps to (an admin deleted it)."""
        ...


@attrs.define
class Harness(Generic[P]):
    """An implementation under contract: ``port`` and, when its suite needs them, ``controls``."""

    port: P
    controls: Any = None


Factory = Callable[[], AbstractAsyncContextManager[Harness[Any]]]
Registry = dict[str, dict[str, Factory]]
