"""
Review findings 3, 4, 5 and 12: one receipt, one note, one deal, nothing lost, webhooks answered
without waiting on vendors. Real SQLite outbox and relay over the fakes; time is a fake clock.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.webhooks.signers import sign_stripe
from portico.app.services.lead_intake import OPEN_DEAL_PROPERTY, LeadIntake
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.payment_collection import PaymentCollection
from portico.app.wiring.subscriptions import subscribe
from portico.app.wiring.webhooks import DEV_SECRETS, build_webhook_ingress
from portico.domain.crm import DealStage
from portico.domain.errors import Unavailable
from portico.domain.events import CheckoutCompleted, PaymentSucceeded
from portico.domain.messaging import TemplateMessage
from portico.domain.values import Money, PhoneNumber
from portico.domain.webhooks import WebhookRequest


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


def _down(integration: str) -> Unavailable:
    """A vendor outage that provably reached nothing (connection refused)."""
    return Unavailable("down", integration=integration, request_sent=False)


async def _paid_checkout(
    wa: FakeMessaging, crm: FakeCRM, stripe: FakePayments, dispatch: OutboxDispatch
) -> tuple[str, str, list[object]]:
    """A lead, its link, the checkout paid: (contact id, deal id, Stripe's two events)."""
    lead = await LeadIntake(crm, dispatch).intake(wa.receive(PATIENT, "Hi").message)
    sent = await PaymentCollection(stripe, crm, dispatch).request_payment(
        contact_id=lead.contact.id, deal_id=lead.deal_id, amount=FEE, description="consultation"
    )
    stripe.complete_checkout(sent.link.id)
    return lead.contact.id, lead.deal_id, list(stripe.drain_events())


def _intent_of(events: list[object]) -> str:
    return next(e.payment_intent_id for e in events if isinstance(e, PaymentSucceeded))


async def test_both_stripe_events_arriving_concurrently_send_one_receipt(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    relay: OutboxRelay,
) -> None:
    """checkout.session.completed and payment_intent.succeeded, twice each, at once: one of each."""
    contact_id, deal_id, events = await _paid_checkout(wa, crm, stripe, dispatch)
    assert {type(e) for e in events} == {CheckoutCompleted, PaymentSucceeded}
    collection = PaymentCollection(stripe, crm, dispatch)
    handlers = [
        handler(event)
        for event in events * 2
        for event_type, handler in collection.subscriptions()
        if isinstance(event, event_type)
    ]
    intent_id = _intent_of(events)
    settled = [collection.settle(intent_id) for _ in range(3)]
    await asyncio.gather(*handlers, *settled)
    await relay.run(until_idle=True)
    receipts = [m for m in wa.sent_to(PATIENT) if isinstance(m, TemplateMessage)]
    assert len(receipts) == 1
    assert len(crm.notes_of(contact_id)) == 1
    assert crm.deals[deal_id].stage is DealStage.WON
    assert relay.stats.delivered == 4


async def test_a_note_that_fails_once_is_written_exactly_once_by_the_relay(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    relay: OutboxRelay,
) -> None:
    """add_note fails once; the relay retries it, a redelivered webhook adds nothing: one note."""
    contact_id, _, events = await _paid_checkout(wa, crm, stripe, dispatch)
    (paid,) = [e for e in events if isinstance(e, PaymentSucceeded)]
    collection = PaymentCollection(stripe, crm, dispatch)
    await collection.on_payment_succeeded(paid)
    crm.faults.fail_next(1, _down("hubspot"), operation="add_note")
    await relay.run_once()  # deal, receipt, contact update (the note waits behind its contact)
    await relay.run_once()  # the note's first attempt fails and is scheduled again
    assert relay.stats.retried == 1
    assert crm.notes_of(contact_id) == []
    await collection.on_payment_succeeded(paid)  # the provider's retry of the same payment
    await relay.run(until_idle=True)
    (note,) = crm.notes_of(contact_id)
    assert "Paid 150.00 RON" in note.body
    assert len([m for m in wa.sent_to(PATIENT) if isinstance(m, TemplateMessage)]) == 1


async def test_a_marker_write_failing_after_create_deal_still_leaves_one_deal(
    wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch, relay: OutboxRelay
) -> None:
    """The open-deal marker fails after the deal exists: it is queued, intake succeeds, one deal."""
    crm.faults.fail_next(1, _down("hubspot"), operation="update_contact")
    intake = LeadIntake(crm, dispatch)
    event = wa.receive(PATIENT, "Hi")
    lead = await intake.intake(event.message)  # no exception: the webhook is acknowledged
    assert lead.opened
    assert lead.marker is not None
    assert lead.marker.queued
    await relay.run(until_idle=True)
    again = await intake.intake(event.message)  # a redelivery, or the patient's next message
    assert (again.deal_id, again.opened) == (lead.deal_id, False)
    (contact,) = crm.contacts.values()
    assert contact.properties[OPEN_DEAL_PROPERTY] == lead.deal_id
    assert len(crm.deals) == 1


async def test_intake_waits_while_another_worker_takes_in_the_same_sender(
    wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
) -> None:
    """A sender claimed elsewhere: intake raises Unavailable and opens nothing; later, one deal."""
    claims = MemoryReplayStore()
    intake = LeadIntake(crm, dispatch, claims=claims)
    message = wa.receive(PATIENT, "Hi").message
    other = await intake._claim(claims, PATIENT)  # another worker's claim on this sender
    with pytest.raises(Unavailable, match="another worker"):
        await intake.intake(message)
    assert not crm.deals
    await claims.release(other)
    await intake.intake(message)
    await intake.intake(wa.receive(PATIENT, "Still there?").message)  # released after each
    assert len(crm.deals) == 1


async def test_two_simultaneous_first_messages_open_one_deal(
    wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
) -> None:
    """Two workers take in the same new patient at once: one opens the deal, one is retried."""
    crm.faults.sleep = lambda _s: asyncio.sleep(0)  # every CRM call yields to the other worker
    crm.faults.add_latency(1.0)
    intake = LeadIntake(crm, dispatch, claims=MemoryReplayStore())
    first = wa.receive(PATIENT, "Hi").message
    second = wa.receive(PATIENT, "Hello?").message
    results = await asyncio.gather(
        intake.intake(first), intake.intake(second), return_exceptions=True
    )
    assert sum(isinstance(r, Unavailable) for r in results) == 1
    await intake.intake(second)  # the provider's retry
    assert len(crm.deals) == 1


async def test_a_vendor_outage_during_a_webhook_is_acknowledged_and_delivered_later(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    outbox: SqliteOutbox,
    relay: OutboxRelay,
) -> None:
    """WhatsApp and HubSpot writes down: the signed webhook gets 200, the relay delivers later."""
    contact_id, deal_id, events = await _paid_checkout(wa, crm, stripe, dispatch)
    intent_id = _intent_of(events)
    ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
    subscribe(ingress, [PaymentCollection(stripe, crm, dispatch)])
    for operation in ("move_deal", "upsert_contact", "add_note"):
        crm.faults.fail_next(3, _down("hubspot"), operation=operation)
    wa.faults.fail_next(3, _down("whatsapp"), operation="send")
    body = json.dumps(
        {
            "id": "evt_outage",
            "object": "event",
            "api_version": "2023-10-16",
            "created": int(time.time()),
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": FEE.amount_minor,
                    "amount_received": FEE.amount_minor,
                    "currency": "ron",
                    "status": "succeeded",
                    "metadata": {"deal_id": deal_id, "contact_id": contact_id},
                }
            },
        }
    ).encode()
    headers = sign_stripe(body, DEV_SECRETS["stripe"]["secret"])
    request = WebhookRequest("POST", "https://portico.test/webhooks/stripe", headers, body)
    sent_before, calls_before = len(wa.sent_to(PATIENT)), len(crm.faults.calls)
    response = await ingress.handle("stripe", request)
    assert response.status == 200
    writes = {"move_deal", "upsert_contact", "add_note"}
    inline = crm.faults.calls[calls_before:]
    assert not [c for c in inline if c.operation in writes]  # no vendor write inline
    status = await outbox.status()
    assert sum(b.pending for b in status.integrations) == 4
    await relay.run(until_idle=True)
    assert relay.stats.retried > 0
    assert crm.deals[deal_id].stage is DealStage.WON
    assert len(crm.notes_of(contact_id)) == 1
    assert len(wa.sent_to(PATIENT)) == sent_before + 1
    assert sum(b.dead for b in (await outbox.status()).integrations) == 0
