"""
What a contract suite gets from an implementation: the port, plus vendor-side controls.

The suites call only port methods and these controls, so any implementation (a fake, a resilient
wrapper, an HTTP adapter over a mock transport) plugs in by registering factories in
``tests/contract/impls/<name>.py``::

    FACTORIES = {"payments": {"stripe-http": stripe_harness}}

where ``stripe_harness()`` returns an async context manager yielding a ``Harness``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import attrs

from domain.messaging import DeliveryStatus
from domain.voice import CallStatus


__all__ = [
    "Factory",
    "Harness",
    "MessagingControls",
    "PaymentControls",
    "Registry",
    "VoiceControls",
]

P = TypeVar("P")


@runtime_checkable
class MessagingControls(Protocol):
    """What the messaging provider does on its side."""

    async def advance(self, message_id: str, status: DeliveryStatus) -> None:
        """The provider reports ``status`` for a message (its status webhook, possibly late)."""
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


@attrs.define
class Harness(Generic[P]):
    """An implementation under contract: ``port`` and, when its suite needs them, ``controls``."""

    port: P
    controls: Any = None


Factory = Callable[[], AbstractAsyncContextManager[Harness[Any]]]
Registry = dict[str, dict[str, Factory]]
