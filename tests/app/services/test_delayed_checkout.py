"""
A checkout paid by a delayed method (bank debit) ends as paid or failed, not ``paid=False`` forever.

Stripe's sequence, mirrored by `FakePayments`: ``checkout.session.completed`` (unpaid) at once; days
later ``payment_intent.succeeded`` + ``checkout.session.async_payment_succeeded``, or
``payment_intent.payment_failed`` + ``checkout.session.async_payment_failed``.
"""

from __future__ import annotations

import asyncio

import pytest

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments
from portico.app.services.lead_intake import LeadIntake
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.payment_collection import PaymentCollection
from portico.domain.crm import DealStage
from portico.domain.errors import InvalidRequest
from portico.domain.events import (
    CheckoutCompleted,
    CheckoutPaymentSettled,
    DomainEvent,
    PaymentFailed,
    PaymentSucceeded,
)
from portico.domain.messaging import TemplateMessage
from portico.domain.payments import PaymentStatus
from portico.domain.values import Money, PhoneNumber


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


async def _deliver(collection: PaymentCollection, events: list[DomainEvent]) -> None:
    """Every event to every handler subscribed to its type, each delivered twice, at once."""
    await asyncio.gather(
        *(
            handler(event)
            for event in events * 2
            for event_type, handler in collection.subscriptions()
            if isinstance(event, event_type)
        )
    )


async def _delayed_checkout(
    wa: FakeMessaging, crm: FakeCRM, stripe: FakePayments, dispatch: OutboxDispatch
) -> tuple[PaymentCollection, str, str, str]:
    lead = await LeadIntake(crm, dispatch).intake(wa.receive(PATIENT, "Hi").message)
    collection = PaymentCollection(stripe, crm, dispatch)
    sent = await collection.request_payment(
        contact_id=lead.contact.id, deal_id=lead.deal_id, amount=FEE, description="consultation"
    )
    completed = stripe.complete_checkout(sent.link.id, delayed=True)
    assert not completed.paid
    assert [type(e) for e in stripe.drain_events()] == [CheckoutCompleted]
    return collection, lead.contact.id, lead.deal_id, sent.link.id


async def test_a_delayed_payment_that_succeeds_settles_the_deal_once(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    relay: OutboxRelay,
) -> None:
    """async_payment_succeeded and payment_intent.succeeded, twice each: one settlement."""
    collection, contact_id, deal_id, session_id = await _delayed_checkout(wa, crm, stripe, dispatch)
    await relay.run(until_idle=True)
    assert crm.deals[deal_id].stage is not DealStage.WON  # not money yet
    settled = stripe.settle_checkout(session_id)
    events = list(stripe.drain_events())
    assert {type(e) for e in events} == {PaymentSucceeded, CheckoutPaymentSettled}
    assert settled.paid
    await _deliver(collection, events)
    await relay.run(until_idle=True)
    assert crm.deals[deal_id].stage is DealStage.WON
    assert len([m for m in wa.sent_to(PATIENT) if isinstance(m, TemplateMessage)]) == 1
    (note,) = crm.notes_of(contact_id)
    assert "Paid 150.00 RON" in note.body


async def test_the_checkout_event_alone_settles_it(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    relay: OutboxRelay,
) -> None:
    """A host subscribed to checkout events only (no payment_intent.*) still gets the deal won."""
    collection, _, deal_id, session_id = await _delayed_checkout(wa, crm, stripe, dispatch)
    stripe.settle_checkout(session_id)
    events = [e for e in stripe.drain_events() if isinstance(e, CheckoutPaymentSettled)]
    await _deliver(collection, list(events))
    await relay.run(until_idle=True)
    assert crm.deals[deal_id].stage is DealStage.WON


async def test_a_delayed_payment_that_fails_is_noted_once_and_the_deal_stays_open(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    relay: OutboxRelay,
) -> None:
    """async_payment_failed: a note that the link is spent (once), the attempt noted, no receipt."""
    collection, contact_id, deal_id, session_id = await _delayed_checkout(wa, crm, stripe, dispatch)
    settled = stripe.settle_checkout(session_id, succeeded=False, code="insufficient_funds")
    events = list(stripe.drain_events())
    assert {type(e) for e in events} == {PaymentFailed, CheckoutPaymentSettled}
    assert not settled.paid
    assert settled.payment_intent_id is not None
    assert stripe.intents[settled.payment_intent_id].status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    await _deliver(collection, events)
    await relay.run(until_idle=True)
    assert crm.deals[deal_id].stage is not DealStage.WON
    bodies = sorted(n.body for n in crm.notes_of(contact_id))
    assert len(bodies) == 2
    assert "insufficient_funds" in bodies[0]
    assert "delayed checkout payment of 150.00 RON failed" in bodies[1]
    assert "send a new one" in bodies[1]
    assert [m for m in wa.sent_to(PATIENT) if isinstance(m, TemplateMessage)] == []


async def test_settling_a_card_checkout_is_refused(
    wa: FakeMessaging, crm: FakeCRM, stripe: FakePayments, dispatch: OutboxDispatch
) -> None:
    """Only a delayed checkout has an outcome to announce; a card checkout was paid at once."""
    lead = await LeadIntake(crm, dispatch).intake(wa.receive(PATIENT, "Hi").message)
    sent = await PaymentCollection(stripe, crm, dispatch).request_payment(
        contact_id=lead.contact.id, deal_id=lead.deal_id, amount=FEE, description="consultation"
    )
    stripe.complete_checkout(sent.link.id)
    with pytest.raises(InvalidRequest, match="delayed"):
        stripe.settle_checkout(sent.link.id)
