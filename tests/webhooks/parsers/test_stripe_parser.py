"""Stripe events become payment domain events keyed by the event id (refunds: the refund id)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.webhooks.parsers import payloads as p

from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.stripe.parser import StripeParser
from portico.domain.errors import MalformedWebhook
from portico.domain.events import (
    CheckoutCompleted,
    CheckoutPaymentSettled,
    PaymentFailed,
    PaymentSucceeded,
    RefundIssued,
)
from portico.domain.payments import PaymentStatus
from portico.domain.values import Money
from portico.domain.webhooks import ClaimOutcome


def _one(event_type: str, obj: dict[str, object]) -> object:
    parsed = StripeParser().parse(p.request(p.stripe_event(event_type, obj)))
    assert parsed.provider == "stripe"
    assert len(parsed.events) == 1
    return parsed.events[0]


def test_payment_succeeded() -> None:
    """payment_intent.succeeded carries the received amount, currency and patient ref."""
    event = _one("payment_intent.succeeded", p.PAYMENT_INTENT)
    assert isinstance(event, PaymentSucceeded)
    assert event.event_id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
    assert event.payment_intent_id == "pi_3NG8Dt2eZvKYlo2C0RzGvKqT"
    assert event.amount == Money(15000, "RON")
    assert event.patient_ref == "pt_42"
    assert event.occurred_at == datetime(2023, 6, 6, 22, 19, 30, tzinfo=UTC)


def test_payment_failed() -> None:
    """payment_intent.payment_failed carries the decline code and the intent's status."""
    event = _one("payment_intent.payment_failed", p.FAILED_INTENT)
    assert isinstance(event, PaymentFailed)
    assert event.failure_code == "insufficient_funds"
    assert event.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert event.amount == Money(15000, "RON")


def test_refund_created() -> None:
    """refund.created is a RefundIssued with the refund id, intent and amount."""
    event = _one("refund.created", p.REFUND)
    assert isinstance(event, RefundIssued)
    assert (event.refund_id, event.payment_intent_id) == (
        "re_3NG8Dt2eZvKYlo2C0rTg4Qe1",
        "pi_3NG8Dt2eZvKYlo2C0RzGvKqT",
    )
    assert event.amount == Money(5000, "RON")


def test_failed_refund_is_acknowledged_not_announced() -> None:
    """A refund that failed is no RefundIssued; its type and status are counted."""
    parsed = StripeParser().parse(
        p.request(p.stripe_event("refund.updated", {**p.REFUND, "status": "failed"}))
    )
    assert parsed.events == ()
    assert parsed.unknown_types == ("refund.updated:failed",)


def test_charge_refunded() -> None:
    """charge.refunded uses the embedded refund id and, lacking its amount, the cumulative one."""
    event = _one("charge.refunded", p.CHARGE_REFUNDED)
    assert isinstance(event, RefundIssued)
    assert event.refund_id == "re_3NG8Dt2eZvKYlo2C0rTg4Qe1"
    assert event.event_id == "refund:re_3NG8Dt2eZvKYlo2C0rTg4Qe1"
    assert event.amount == Money(15000, "RON")


def test_charge_refunded_without_embedded_refunds_uses_the_charge() -> None:
    """Newer API versions do not embed refunds: the charge id stands in."""
    charge = {k: v for k, v in p.CHARGE_REFUNDED.items() if k != "refunds"}
    event = _one("charge.refunded", charge)
    assert isinstance(event, RefundIssued)
    assert event.refund_id == "ch_3NG8Dt2eZvKYlo2C0vWHEbVy"
    assert event.event_id.startswith("evt_")  # no refund identity to share


@pytest.mark.parametrize(
    "event_type", ["refund.created", "refund.updated", "charge.refund.updated"]
)
def test_pending_refund_is_acknowledged_not_announced(event_type: str) -> None:
    """A pending refund is no RefundIssued yet: it is counted as '<type>:pending'."""
    parsed = StripeParser().parse(
        p.request(p.stripe_event(event_type, {**p.REFUND, "status": "pending"}))
    )
    assert parsed.events == ()
    assert parsed.unknown_types == (f"{event_type}:pending",)


def test_one_refund_is_announced_once_under_its_own_identity() -> None:
    """refund.created (pending), refund.updated and charge.refunded give one key: refund:<id>."""
    parser = StripeParser()
    pending = parser.parse(
        p.request(p.stripe_event("refund.created", {**p.REFUND, "status": "pending"}))
    )
    updated = _one("refund.updated", p.REFUND)
    embedded = {**p.REFUND, "object": "refund"}
    charge = {**p.CHARGE_REFUNDED, "refunds": {"object": "list", "data": [embedded]}}
    via_charge = _one("charge.refunded", charge)
    assert pending.events == ()
    assert isinstance(updated, RefundIssued)
    assert isinstance(via_charge, RefundIssued)
    assert updated.event_id == via_charge.event_id == "refund:re_3NG8Dt2eZvKYlo2C0rTg4Qe1"
    assert via_charge.amount == updated.amount == Money(5000, "RON")


def test_charge_refunded_with_a_pending_embedded_refund_is_acknowledged() -> None:
    """charge.refunded whose newest refund is still pending announces nothing yet."""
    embedded = {**p.REFUND, "status": "pending"}
    charge = {**p.CHARGE_REFUNDED, "refunds": {"object": "list", "data": [embedded]}}
    parsed = StripeParser().parse(p.request(p.stripe_event("charge.refunded", charge)))
    assert parsed.events == ()
    assert parsed.unknown_types == ("charge.refunded:pending",)


async def test_refund_events_for_one_refund_are_processed_once_by_the_ingress() -> None:
    """Through a replay store, refund.updated then charge.refunded for one refund is one event."""
    store = MemoryReplayStore()
    embedded = {**p.REFUND, "object": "refund"}
    charge = {**p.CHARGE_REFUNDED, "refunds": {"object": "list", "data": [embedded]}}
    outcomes = []
    for event in (_one("refund.updated", p.REFUND), _one("charge.refunded", charge)):
        assert isinstance(event, RefundIssued)
        claim = await store.claim(f"stripe:{event.event_id}", lease_seconds=30)
        outcomes.append(claim.outcome)
        if claim.claimed:
            await store.complete(claim)
    assert outcomes == [ClaimOutcome.CLAIMED, ClaimOutcome.DUPLICATE]


def test_checkout_completed() -> None:
    """checkout.session.completed carries the session, intent, total and paid flag."""
    event = _one("checkout.session.completed", p.CHECKOUT_SESSION)
    assert isinstance(event, CheckoutCompleted)
    assert event.session_id.startswith("cs_test_")
    assert event.amount == Money(2000, "EUR")
    assert event.paid is True
    assert event.patient_ref == "pt_7"


def test_zero_decimal_currency_is_kept_in_minor_units() -> None:
    """A JPY amount is whole yen, exactly as Stripe sends it."""
    event = _one("payment_intent.succeeded", {**p.PAYMENT_INTENT, "currency": "jpy"})
    assert isinstance(event, PaymentSucceeded)
    assert event.amount.to_decimal() == 15000


def test_unknown_type_is_counted() -> None:
    """An event type we do not map is acknowledged in unknown_types, not an error."""
    parsed = StripeParser().parse(p.request(p.stripe_event("customer.created", {"id": "cus_1"})))
    assert parsed.events == ()
    assert parsed.unknown_types == ("customer.created",)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("id"), "body.id: missing"),
        (lambda e: e.update(type=7), "body.type: must be a string"),
        (lambda e: e["data"].pop("object"), "body.data.object: missing"),
        (lambda e: e["data"]["object"].update(amount_received="lots"), "amount_received"),
        (lambda e: e["data"]["object"].update(currency="xyz"), "currency"),
        (lambda e: e["data"]["object"].update(amount_received=-5), "at least 0"),
        (lambda e: e.update(created=10**30), "body.created"),
    ],
)
def test_malformed_fields_are_named(mutate: object, field: str) -> None:
    """Each missing or mistyped field is a MalformedWebhook naming it."""
    envelope = p.stripe_event("payment_intent.succeeded", dict(p.PAYMENT_INTENT))
    envelope["data"]["object"] = dict(p.PAYMENT_INTENT)
    mutate(envelope)  # type: ignore[operator]
    with pytest.raises(MalformedWebhook, match=field) as caught:
        StripeParser().parse(p.request(envelope))
    assert caught.value.integration == "stripe"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[]", "must be an object"),
        (b'{"id": NaN}', "NaN"),
        (b"[" * 100_000, "not valid JSON|nested too deeply"),
    ],
)
def test_unreadable_bodies_are_malformed(body: bytes, reason: str) -> None:
    """Bodies that are not UTF-8 JSON objects are refused with a reason."""
    with pytest.raises(MalformedWebhook, match=reason):
        StripeParser().parse(p.request(body))


RECORDED = Path(__file__).parent / "recorded" / "stripe"


def _recorded(name: str) -> object:
    parsed = StripeParser().parse(p.request((RECORDED / name).read_bytes()))
    assert parsed.unknown_types == ()
    (event,) = parsed.events
    return event


@pytest.mark.parametrize(
    ("name", "paid"),
    [
        ("checkout_session_async_payment_succeeded.json", True),
        ("checkout_session_async_payment_failed.json", False),
    ],
)
def test_recorded_delayed_checkout_settles(name: str, paid: bool) -> None:
    """A delayed-method checkout's end: paid or failed by the event type, not payment_status."""
    event = _recorded(name)
    assert isinstance(event, CheckoutPaymentSettled)
    assert event.paid is paid
    assert event.event_id == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert event.session_id.startswith("cs_test_a1YS1URlnyQCN5fU")
    assert event.payment_intent_id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert event.amount is None  # the fixture session carries no totals


def test_recorded_payment_intent_succeeded() -> None:
    """stripe-mock's payment_intent fixture parses (amount_received 0 of 1099 USD)."""
    event = _recorded("payment_intent_succeeded.json")
    assert isinstance(event, PaymentSucceeded)
    assert event.payment_intent_id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert event.amount == Money(0, "USD")
    assert event.patient_ref is None


def test_async_checkout_with_totals_carries_the_amount() -> None:
    """A settled checkout with totals and our patient ref in its metadata carries both."""
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "payment_intent": "pi_1",
        "amount_total": 15000,
        "currency": "ron",
        "payment_status": "paid",
        "metadata": {"patient_ref": "pt_42"},
    }
    event = _one("checkout.session.async_payment_succeeded", session)
    assert isinstance(event, CheckoutPaymentSettled)
    assert (event.paid, event.amount, event.patient_ref) == (True, Money(15000, "RON"), "pt_42")
