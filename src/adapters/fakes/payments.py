"""
`FakePayments`: an in-memory Stripe (PaymentIntents, Refunds, Checkout Sessions).

Like Stripe: ``pi_``/``re_``/``cs_test_`` ids, an idempotency key replays the first result for the
same request and is a `Conflict` for a different one (keys live 24 hours, across endpoints, and a
refused request stores nothing), Stripe's minimum charge amounts, refunds never exceeding what was
captured, and a checkout URL on ``checkout.stripe.com``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import attrs

from ...domain.errors import Conflict, InvalidRequest, NotFound
from ...domain.events import (
    CheckoutCompleted,
    CheckoutPaymentSettled,
    PaymentFailed,
    PaymentSucceeded,
    RefundIssued,
)
from ...domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
    RefundStatus,
)
from ...domain.values import Money
from ...ports.payments import PaymentPort
from ._support import FakeBase


__all__ = ["MINIMUM_CHARGE", "FakePayments"]

PROVIDER = "stripe"
KEY_LIFETIME = timedelta(hours=24)
MAXIMUM_CHARGE = 99_999_999  # eight digits of minor units
# Stripe's minimum charge per currency, in minor units (others: one minor unit).
MINIMUM_CHARGE: Mapping[str, int] = MappingProxyType(
    {"USD": 50, "EUR": 50, "GBP": 30, "CHF": 50, "CAD": 50, "AUD": 50, "RON": 200, "PLN": 200,
     "DKK": 250, "NOK": 300, "SEK": 300, "CZK": 1500, "HUF": 17500, "BGN": 100, "JPY": 50,
     "MXN": 1000, "HKD": 400, "SGD": 50, "NZD": 50, "AED": 200}
)  # fmt: skip
_PAYABLE = frozenset(
    {
        PaymentStatus.REQUIRES_PAYMENT_METHOD,
        PaymentStatus.REQUIRES_CONFIRMATION,
        PaymentStatus.REQUIRES_ACTION,
        PaymentStatus.PROCESSING,
    }
)
R = TypeVar("R")
Q = TypeVar("Q", PaymentRequest, RefundRequest, CheckoutRequest)


def _invalid(message: str, code: str) -> InvalidRequest:
    return InvalidRequest(message, integration=PROVIDER, vendor_code=code, status_code=400)


def _not_found(what: str) -> NotFound:
    return NotFound(
        f"no such {what}", integration=PROVIDER, vendor_code="resource_missing", status_code=404
    )


def _check_amount(amount: Money) -> None:
    if amount.amount_minor < MINIMUM_CHARGE.get(amount.currency, 1):
        raise _invalid("amount is below the minimum charge for the currency", "amount_too_small")
    if amount.amount_minor > MAXIMUM_CHARGE:
        raise _invalid("amount is above the maximum charge", "amount_too_large")


def _check_url(url: str | None, name: str) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(f"{name} is not a valid URL", "url_invalid")


@attrs.define
class _Remembered:
    operation: str
    request: dict[str, Any]
    result: object
    at: datetime


@attrs.define
class _Session:
    request: CheckoutRequest
    link: CheckoutLink
    completed: bool = False
    settled: bool = False  # a delayed payment's outcome has been announced


@attrs.define(repr=False)
class FakePayments(FakeBase, PaymentPort):
    """Stripe as a test double you can ship. Use `pay` or `complete_checkout` as the patient."""

    INTEGRATION: ClassVar[str] = PROVIDER

    intents: dict[str, PaymentIntent] = attrs.field(factory=dict, init=False)
    refunds: dict[str, Refund] = attrs.field(factory=dict, init=False)
    _sessions: dict[str, _Session] = attrs.field(factory=dict, init=False)
    _keys: dict[str, _Remembered] = attrs.field(factory=dict, init=False)

    async def create_payment_intent(self, request: PaymentRequest) -> PaymentIntent:
        """Create an intent awaiting payment; replayed for the same idempotency key."""
        return await self._idempotent("create_payment_intent", request, PaymentIntent, self._create)

    async def get_payment_intent(self, intent_id: str) -> PaymentIntent:
        """The intent with this id."""
        await self.faults.before("get_payment_intent", intent_id)
        return self._intent(intent_id)

    async def cancel_payment_intent(self, intent_id: str) -> PaymentIntent:
        """Cancel an unpaid intent; a canceled one is returned unchanged."""
        await self.faults.before("cancel_payment_intent", intent_id)
        intent = self._intent(intent_id)
        if intent.status is PaymentStatus.CANCELED:
            return intent
        if intent.status not in _PAYABLE and intent.status is not PaymentStatus.REQUIRES_CAPTURE:
            raise _invalid(
                f"cannot cancel an intent in status {intent.status.value}",
                "payment_intent_unexpected_state",
            )
        intent = attrs.evolve(intent, status=PaymentStatus.CANCELED)
        self.intents[intent_id] = intent
        return intent

    async def refund(self, request: RefundRequest) -> Refund:
        """Refund what is left of a paid intent, or part of it; replayed for the same key."""
        return await self._idempotent("refund", request, Refund, self._refund)

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        """Open a Checkout Session; its URL works until the request's fixed ``expires_at``."""
        return await self._idempotent("create_checkout_link", request, CheckoutLink, self._checkout)

    # ---------------------------------------------------------------- the vendor's work

    def _create(self, request: PaymentRequest) -> PaymentIntent:
        _check_amount(request.amount)
        intent = self._new_intent(request)
        intent = attrs.evolve(intent, client_secret=f"{intent.id}_secret_{self._ids.token(25)}")
        self.intents[intent.id] = intent
        return intent

    def _refund(self, request: RefundRequest) -> Refund:
        intent = self._intent(request.payment_intent_id)
        received = intent.amount_received
        if intent.status is not PaymentStatus.SUCCEEDED or received is None:
            raise _invalid("the payment intent has not been paid", "charge_not_refundable")
        left = received.amount_minor - self.refunded(intent.id).amount_minor
        amount = request.amount or Money(left, received.currency)
        if amount.currency != received.currency:
            raise _invalid("the refund currency differs from the payment's", "currency_mismatch")
        if left == 0:
            raise _invalid("the charge has already been fully refunded", "charge_already_refunded")
        if amount.amount_minor == 0:
            raise _invalid("a refund amount must be positive", "parameter_invalid_integer")
        if amount.amount_minor > left:
            raise _invalid("the refund is more than what is left to refund", "amount_too_large")
        refund = Refund(self._new_id("re_3"), intent.id, amount, RefundStatus.SUCCEEDED)
        self.refunds[refund.id] = refund
        self._emit(
            RefundIssued(
                event_id=self._new_id("evt_3"),
                provider=PROVIDER,
                occurred_at=self.clock.now(),
                refund_id=refund.id,
                payment_intent_id=intent.id,
                amount=amount,
            )
        )
        return refund

    def _checkout(self, request: CheckoutRequest) -> CheckoutLink:
        _check_amount(request.amount)
        _check_url(request.success_url, "success_url")
        _check_url(request.cancel_url, "cancel_url")
        session_id = "cs_test_" + self._ids.token(58)
        link = CheckoutLink(
            id=session_id,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            expires_at=datetime.fromtimestamp(int(request.expires_at.timestamp()), UTC),
            amount=request.amount,
        )
        self._sessions[session_id] = _Session(request, link)
        return link

    # ---------------------------------------------------------------- vendor-side controls

    def pay(self, intent_id: str) -> PaymentSucceeded:
        """The patient pays an intent in full: SUCCEEDED, and the webhook's event is returned."""
        intent = self._intent(intent_id)
        if intent.status not in _PAYABLE:
            raise _invalid(
                f"cannot pay an intent in status {intent.status.value}",
                "payment_intent_unexpected_state",
            )
        intent = attrs.evolve(intent, status=PaymentStatus.SUCCEEDED, amount_received=intent.amount)
        self.intents[intent_id] = intent
        return self._emit(
            PaymentSucceeded(
                event_id=self._new_id("evt_3"),
                provider=PROVIDER,
                occurred_at=self.clock.now(),
                payment_intent_id=intent.id,
                amount=intent.amount,
                patient_ref=intent.patient_ref,
            )
        )

    def decline(self, intent_id: str, code: str = "card_declined") -> PaymentFailed:
        """A payment attempt is declined; the intent again requires a payment method."""
        intent = self._intent(intent_id)
        if intent.status not in _PAYABLE:
            raise _invalid("the intent cannot be paid", "payment_intent_unexpected_state")
        intent = attrs.evolve(intent, status=PaymentStatus.REQUIRES_PAYMENT_METHOD)
        self.intents[intent_id] = intent
        return self._emit(
            PaymentFailed(
                event_id=self._new_id("evt_3"),
                provider=PROVIDER,
                occurred_at=self.clock.now(),
                payment_intent_id=intent.id,
                amount=intent.amount,
                failure_code=code,
                patient_ref=intent.patient_ref,
            )
        )

    def complete_checkout(self, session_id: str, *, delayed: bool = False) -> CheckoutCompleted:
        """
        The patient pays on the checkout page; the session's webhooks are emitted.

        By card (default) the intent succeeds at once: ``payment_intent.succeeded`` then
        ``checkout.session.completed``. With ``delayed=True`` (a bank debit, as Stripe's delayed
        notification methods) the intent is left ``processing`` and only the completed session,
        unpaid, is emitted; `settle_checkout` later announces the outcome.
        """
        session = self._sessions.get(session_id)
        if session is None:
            raise _not_found("checkout session")
        if session.completed:
            raise _invalid("the checkout session is already complete", "checkout_complete")
        if self.clock.now() >= session.link.expires_at:
            raise _invalid("the checkout session has expired", "checkout_expired")
        request = session.request
        intent = self._new_intent(request)
        if delayed:
            intent = attrs.evolve(intent, status=PaymentStatus.PROCESSING)
        self.intents[intent.id] = intent
        at = self.clock.now() if delayed else self.pay(intent.id).occurred_at
        session.completed = True
        session.link = attrs.evolve(session.link, payment_intent_id=intent.id)
        return self._emit(
            CheckoutCompleted(
                event_id=self._new_id("evt_3"),
                provider=PROVIDER,
                occurred_at=at,
                session_id=session_id,
                payment_intent_id=intent.id,
                amount=request.amount,
                patient_ref=request.patient_ref,
                paid=not delayed,
            )
        )

    def settle_checkout(
        self, session_id: str, *, succeeded: bool = True, code: str = "generic_decline"
    ) -> CheckoutPaymentSettled:
        """
        A delayed checkout payment ends, as Stripe announces it, two webhooks each way.

        Succeeded: ``payment_intent.succeeded`` and ``checkout.session.async_payment_succeeded``;
        failed: ``payment_intent.payment_failed`` (``code``; the intent again requires a payment
        method) and ``checkout.session.async_payment_failed``.
        """
        session = self._sessions.get(session_id)
        if session is None:
            raise _not_found("checkout session")
        intent_id = session.link.payment_intent_id
        if not session.completed or intent_id is None or session.settled:
            raise _invalid("the checkout session has no payment processing", "checkout_unsettled")
        if self._intent(intent_id).status is not PaymentStatus.PROCESSING:
            raise _invalid("the checkout was not paid by a delayed method", "checkout_unsettled")
        outcome = self.pay(intent_id) if succeeded else self.decline(intent_id, code)
        session.settled = True
        return self._emit(
            CheckoutPaymentSettled(
                event_id=self._new_id("evt_3"),
                provider=PROVIDER,
                occurred_at=outcome.occurred_at,
                session_id=session_id,
                payment_intent_id=intent_id,
                amount=session.request.amount,
                patient_ref=session.request.patient_ref,
                paid=succeeded,
            )
        )

    def refunded(self, intent_id: str) -> Money:
        """How much of an intent has been refunded so far."""
        intent = self._intent(intent_id)
        total = sum(r.amount.amount_minor for r in self.refunds.values() if r.payment_intent_id
                    == intent_id)  # fmt: skip
        return Money(total, intent.amount.currency)

    def _counts(self) -> dict[str, int]:
        return {
            "intents": len(self.intents),
            "refunds": len(self.refunds),
            "checkouts": len(self._sessions),
            **super()._counts(),
        }

    def reset(self) -> None:
        """Forget intents, refunds, sessions, idempotency keys, faults and events."""
        super().reset()
        self.intents.clear()
        self.refunds.clear()
        self._sessions.clear()
        self._keys.clear()

    def _intent(self, intent_id: str) -> PaymentIntent:
        try:
            return self.intents[intent_id]
        except KeyError:
            raise _not_found("payment intent") from None

    def _new_id(self, prefix: str) -> str:
        return prefix + self._ids.token(24)

    def _new_intent(self, request: PaymentRequest | CheckoutRequest) -> PaymentIntent:
        return PaymentIntent(
            id=self._new_id("pi_3"),
            status=PaymentStatus.REQUIRES_PAYMENT_METHOD,
            amount=request.amount,
            description=request.description,
            patient_ref=request.patient_ref,
            metadata=request.metadata,
        )

    async def _idempotent(
        self, operation: str, request: Q, kind: type[R], work: Callable[[Q], R]
    ) -> R:
        """Run ``work`` once per key: the same request replays its result, another conflicts."""
        await self.faults.before(operation, request)
        key = request.idempotency_key.value
        remembered = self._keys.get(key)
        if remembered is not None and self.clock.now() - remembered.at < KEY_LIFETIME:
            if remembered.operation != operation or remembered.request != _fingerprint(request):
                raise Conflict(
                    "keys for idempotent requests can only be used with the same parameters",
                    integration=PROVIDER,
                    vendor_code="idempotency_key_in_use",
                    status_code=400,
                )
            assert isinstance(remembered.result, kind)
            return remembered.result  # Stripe replays the first response as it was
        result = work(request)  # a refused request raises here, and stores nothing
        self._keys[key] = _Remembered(operation, _fingerprint(request), result, self.clock.now())
        return result


def _fingerprint(request: object) -> dict[str, Any]:
    """The parameters Stripe compares under one key (a checkout's expiry in whole seconds)."""
    fields = attrs.asdict(request, recurse=False)  # type: ignore[arg-type]
    fields.pop("idempotency_key", None)
    if isinstance(request, CheckoutRequest):
        del fields["created_at"], fields["expires_in_seconds"]
        fields["expires_at"] = int(request.expires_at.timestamp())
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in fields.items()}
