"""
Resilient decorators: each implements its port by sending every operation through a `Pipeline`.

They differ only in their ``IDEMPOTENT`` table, read from the port docstrings: reads and
"set to" operations are idempotent (``probe`` included: a health read goes through the same
pipeline as real work, so its retries, breaker and rate limit are the ones a real call would
meet, and ``portico health`` shows the outcome); payment creates and refunds are idempotent
because they carry an idempotency key; ``MessagingPort.send`` is treated as not idempotent (a
key helps only if the provider honours it), like opening a deal, adding a note or placing a call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar, Generic, Self, TypeVar

from ...domain.crm import Contact, ContactDraft, Deal, DealDraft, DealStage, LifecycleStage, Note
from ...domain.email import EmailMessage, EmailReceipt
from ...domain.messaging import MessageReceipt, OutboundMessage
from ...domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    Refund,
    RefundRequest,
)
from ...domain.values import Email, PhoneNumber
from ...domain.voice import Call, CallRequest
from ...ports.crm import CRMPort, UpsertIdempotency
from ...ports.email import EmailPort
from ...ports.messaging import MessagingPort
from ...ports.payments import PaymentPort
from ...ports.voice import VoicePort
from ._pipeline import Pipeline


__all__ = [
    "ResilientCRM",
    "ResilientEmail",
    "ResilientMessaging",
    "ResilientPayments",
    "ResilientVoice",
]

P = TypeVar("P")
T = TypeVar("T")


class _Resilient(Generic[P]):
    """Holds the wrapped port and the pipeline; `_run` is the only call path."""

    IDEMPOTENT: ClassVar[Mapping[str, bool]]
    PORT: ClassVar[str]  # the port's name in span names: "messaging.send"

    def __init__(self, inner: P, pipeline: Pipeline) -> None:
        self.inner = inner
        self.pipeline = pipeline

    def __repr__(self) -> str:
        name, inner = type(self).__name__, type(self.inner).__name__
        return f"<{name} {self.pipeline.integration!r} around {inner}>"

    @classmethod
    def around(cls, inner: P, pipeline: Pipeline) -> Self:
        """
        The decorator of ``inner`` on ``pipeline``, reused while ``inner`` is the same object.

        A container's exposed port then stays one instance, yet follows an override of the raw
        adapter (a new ``inner`` gets a new decorator on the same pipeline and breaker).
        """
        cached = pipeline.decorators.get(cls)
        if isinstance(cached, cls) and cached.inner is inner:
            return cached
        wrapper = cls(inner, pipeline)
        pipeline.decorators[cls] = wrapper
        return wrapper

    def _run(self, operation: str, fn: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return self.pipeline.call(
            operation, fn, idempotent=self.IDEMPOTENT[operation], port=self.PORT
        )

    async def _probe(self) -> None:
        """The wrapped port's ``probe`` through the pipeline; a port without one says so."""
        probe: Callable[[], Awaitable[None]] | None = getattr(self.inner, "probe", None)
        if probe is None:
            missing = f"{type(self.inner).__name__} implements no probe()"
            raise NotImplementedError(missing)
        await self._run("probe", probe)


class ResilientMessaging(_Resilient[MessagingPort], MessagingPort):
    """A `MessagingPort` whose calls go through a pipeline."""

    PORT: ClassVar[str] = "messaging"
    IDEMPOTENT: ClassVar[Mapping[str, bool]] = {"send": False, "get_status": True, "probe": True}

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        """See `MessagingPort.send`; never retried once the request may have reached the vendor."""
        return await self._run("send", lambda: self.inner.send(message))

    async def get_status(self, message_id: str) -> MessageReceipt:
        """See `MessagingPort.get_status`."""
        return await self._run("get_status", lambda: self.inner.get_status(message_id))

    async def probe(self) -> None:
        """See `MessagingPort.probe`."""
        await self._probe()


class ResilientEmail(_Resilient[EmailPort], EmailPort):
    """An `EmailPort` whose calls go through a pipeline."""

    PORT: ClassVar[str] = "email"
    IDEMPOTENT: ClassVar[Mapping[str, bool]] = {"send": False}

    async def send(self, message: EmailMessage) -> EmailReceipt:
        """See `EmailPort.send`; never retried once the request may have reached the vendor."""
        return await self._run("send", lambda: self.inner.send(message))


class ResilientCRM(_Resilient[CRMPort], CRMPort):
    """A `CRMPort` whose calls go through a pipeline."""

    PORT: ClassVar[str] = "crm"
    IDEMPOTENT: ClassVar[Mapping[str, bool]] = {
        "upsert_contact": True,
        "update_contact": True,
        "get_contact": True,
        "find_contact": True,
        "create_deal": False,
        "move_deal": True,
        "add_note": False,
        "probe": True,
    }

    async def upsert_contact(self, draft: ContactDraft) -> Contact:
        """
        See `CRMPort.upsert_contact`.

        An adapter that can only make some upserts retry-safe says so per draft through an
        ``upsert_is_idempotent(draft)`` method (HubSpot: phone-only drafts without a unique phone
        property are not); the table's entry is the default for the others.
        """
        return await self.pipeline.call(
            "upsert_contact",
            lambda: self.inner.upsert_contact(draft),
            idempotent=self.upsert_is_idempotent(draft),
            port=self.PORT,
        )

    def upsert_is_idempotent(self, draft: ContactDraft) -> bool:
        """The wrapped adapter's answer (`ports.crm.UpsertIdempotency`), else the table's."""
        if isinstance(self.inner, UpsertIdempotency):
            return self.inner.upsert_is_idempotent(draft)
        return self.IDEMPOTENT["upsert_contact"]

    async def update_contact(
        self,
        contact_id: str,
        *,
        properties: Mapping[str, str] | None = None,
        lifecycle_stage: LifecycleStage | None = None,
    ) -> Contact:
        """See `CRMPort.update_contact`; a write by id, safe to retry."""
        return await self._run(
            "update_contact",
            lambda: self.inner.update_contact(
                contact_id, properties=properties, lifecycle_stage=lifecycle_stage
            ),
        )

    async def get_contact(self, contact_id: str) -> Contact:
        """See `CRMPort.get_contact`."""
        return await self._run("get_contact", lambda: self.inner.get_contact(contact_id))

    async def find_contact(
        self, *, phone: PhoneNumber | None = None, email: Email | None = None
    ) -> Contact | None:
        """See `CRMPort.find_contact`."""
        return await self._run(
            "find_contact", lambda: self.inner.find_contact(phone=phone, email=email)
        )

    async def create_deal(self, draft: DealDraft) -> Deal:
        """See `CRMPort.create_deal`."""
        return await self._run("create_deal", lambda: self.inner.create_deal(draft))

    async def move_deal(self, deal_id: str, stage: DealStage) -> Deal:
        """See `CRMPort.move_deal`."""
        return await self._run("move_deal", lambda: self.inner.move_deal(deal_id, stage))

    async def add_note(self, contact_id: str, body: str) -> Note:
        """See `CRMPort.add_note`."""
        return await self._run("add_note", lambda: self.inner.add_note(contact_id, body))

    async def probe(self) -> None:
        """See `CRMPort.probe`."""
        await self._probe()


class ResilientPayments(_Resilient[PaymentPort], PaymentPort):
    """A `PaymentPort` whose calls go through a pipeline (every operation is idempotent)."""

    PORT: ClassVar[str] = "payments"
    IDEMPOTENT: ClassVar[Mapping[str, bool]] = {
        "create_payment_intent": True,
        "get_payment_intent": True,
        "cancel_payment_intent": True,
        "refund": True,
        "create_checkout_link": True,
        "probe": True,
    }

    async def create_payment_intent(self, request: PaymentRequest) -> PaymentIntent:
        """See `PaymentPort.create_payment_intent`; safe to retry thanks to its idempotency key."""
        return await self._run(
            "create_payment_intent", lambda: self.inner.create_payment_intent(request)
        )

    async def get_payment_intent(self, intent_id: str) -> PaymentIntent:
        """See `PaymentPort.get_payment_intent`."""
        return await self._run(
            "get_payment_intent", lambda: self.inner.get_payment_intent(intent_id)
        )

    async def cancel_payment_intent(self, intent_id: str) -> PaymentIntent:
        """See `PaymentPort.cancel_payment_intent`."""
        return await self._run(
            "cancel_payment_intent", lambda: self.inner.cancel_payment_intent(intent_id)
        )

    async def refund(self, request: RefundRequest) -> Refund:
        """See `PaymentPort.refund`; safe to retry thanks to its idempotency key."""
        return await self._run("refund", lambda: self.inner.refund(request))

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        """See `PaymentPort.create_checkout_link`."""
        return await self._run(
            "create_checkout_link", lambda: self.inner.create_checkout_link(request)
        )

    async def probe(self) -> None:
        """See `PaymentPort.probe`."""
        await self._probe()


class ResilientVoice(_Resilient[VoicePort], VoicePort):
    """A `VoicePort` whose calls go through a pipeline."""

    PORT: ClassVar[str] = "voice"
    IDEMPOTENT: ClassVar[Mapping[str, bool]] = {
        "start_call": False,
        "get_call": True,
        "end_call": True,
        "probe": True,
    }

    async def start_call(self, request: CallRequest) -> Call:
        """See `VoicePort.start_call`; not retried once the request may have reached the vendor."""
        return await self._run("start_call", lambda: self.inner.start_call(request))

    async def get_call(self, call_id: str) -> Call:
        """See `VoicePort.get_call`."""
        return await self._run("get_call", lambda: self.inner.get_call(call_id))

    async def end_call(self, call_id: str) -> Call:
        """See `VoicePort.end_call`."""
        return await self._run("end_call", lambda: self.inner.end_call(call_id))

    async def probe(self) -> None:
        """See `VoicePort.probe`."""
        await self._probe()
