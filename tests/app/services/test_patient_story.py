"""The application services, driven through the shipped fakes, a SQLite outbox and its relay."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portico.adapters.fakes import FakeClock, FakeCRM, FakeMessaging, FakePayments, FakeVoice
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.follow_up_calls import FollowUpCalls
from portico.app.services.lead_intake import OPEN_DEAL_PROPERTY, LeadIntake
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.payment_collection import PaymentCollection
from portico.domain.crm import ContactDraft, DealStage, LifecycleStage
from portico.domain.errors import InvalidValue, Unavailable
from portico.domain.events import PaymentFailed, PaymentSucceeded
from portico.domain.messaging import TemplateMessage, TextMessage
from portico.domain.payments import PaymentRequest
from portico.domain.values import Email, IdempotencyKey, Money, PhoneNumber
from portico.domain.voice import CallRequest, CallStatus


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


@pytest.fixture(name="collection")
def _collection(stripe: FakePayments, crm: FakeCRM, dispatch: OutboxDispatch) -> PaymentCollection:
    return PaymentCollection(stripe, crm, dispatch)


async def _lead(wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch) -> tuple[str, str]:
    await LeadIntake(crm, dispatch).on_message_received(wa.receive(PATIENT, "Hi", name="Ana Pop"))
    contact = next(iter(crm.contacts.values()))
    return contact.id, contact.properties[OPEN_DEAL_PROPERTY]


async def _pending(outbox: SqliteOutbox) -> int:
    return sum(b.pending for b in (await outbox.status()).integrations)


class TestLeadIntake:
    """Inbound messages become one lead with one open deal."""

    async def test_a_new_sender_becomes_a_lead_with_one_deal(
        self, wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
    ) -> None:
        """The first message creates a LEAD named from the profile, and opens a deal."""
        message = wa.receive(PATIENT, "Hi", name=" Ana Pop ").message
        lead = await LeadIntake(crm, dispatch).intake(message)
        assert lead.opened
        assert lead.contact.lifecycle_stage is LifecycleStage.LEAD
        assert lead.contact.first_name == "Ana"
        assert lead.contact.properties[OPEN_DEAL_PROPERTY] == lead.deal_id
        assert crm.deals_of(lead.contact.id)[0].id == lead.deal_id

    async def test_more_messages_reuse_the_open_deal(
        self, wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
    ) -> None:
        """Later messages (and redeliveries) find the same contact and the same deal."""
        intake = LeadIntake(crm, dispatch)
        first = await intake.intake(wa.receive(PATIENT, "Hi").message)
        second = await intake.intake(wa.receive(PATIENT, "Are you there?").message)
        assert (second.contact.id, second.deal_id, second.opened) == (
            first.contact.id,
            first.deal_id,
            False,
        )
        assert len(crm.deals) == 1

    async def test_a_known_customer_keeps_their_name_and_stage(
        self, wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
    ) -> None:
        """A message from an existing customer does not rename or demote them."""
        await crm.upsert_contact(
            ContactDraft(phone=PATIENT, first_name="Ana", lifecycle_stage=LifecycleStage.CUSTOMER)
        )
        message = wa.receive(PATIENT, "Hi", name="Someone").message
        lead = await LeadIntake(crm, dispatch).intake(message)
        assert lead.contact.first_name == "Ana"
        assert lead.contact.lifecycle_stage is LifecycleStage.CUSTOMER

    async def test_a_crm_outage_propagates_and_the_retry_opens_one_deal(
        self, wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
    ) -> None:
        """A CRM failure before the deal exists fails the handler (retried), without dupes."""
        event = wa.receive(PATIENT, "Hi")
        intake = LeadIntake(crm, dispatch)
        crm.faults.fail_next(
            1, Unavailable("down", integration="hubspot"), operation="upsert_contact"
        )
        with pytest.raises(Unavailable):
            await intake.on_message_received(event)
        await intake.on_message_received(event)
        await intake.on_message_received(event)
        assert len(crm.contacts) == 1
        assert len(crm.deals) == 1


class TestPaymentCollection:
    """Checkout links go out by message; payments close the deal with one receipt."""

    async def test_the_link_is_sent_as_text_inside_the_window(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        dispatch: OutboxDispatch,
        collection: PaymentCollection,
    ) -> None:
        """A patient who wrote recently gets the checkout URL as a text message, sent now."""
        contact_id, deal_id = await _lead(wa, crm, dispatch)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        (message,) = wa.sent_to(PATIENT)
        assert isinstance(message, TextMessage)
        assert sent.link.url in message.body
        assert "150.00 RON" in message.body
        assert sent.message is not None
        assert not sent.queued

    async def test_outside_the_window_the_link_goes_as_a_template(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        dispatch: OutboxDispatch,
        collection: PaymentCollection,
        clock: FakeClock,
    ) -> None:
        """After 24 hours of silence the refused text is replaced by the payment template."""
        contact_id, deal_id = await _lead(wa, crm, dispatch)
        clock.advance(25 * 3600)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        (message,) = wa.sent_to(PATIENT)
        assert isinstance(message, TemplateMessage)
        assert message.template == "payment_link"
        assert message.parameters == ("consultation", "150.00 RON", sent.link.url)

    async def test_requesting_again_reuses_the_same_checkout(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        dispatch: OutboxDispatch,
        collection: PaymentCollection,
    ) -> None:
        """The same deal and amount reuse one checkout session (derived idempotency key)."""
        contact_id, deal_id = await _lead(wa, crm, dispatch)
        links = [
            await collection.request_payment(
                contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
            )
            for _ in range(2)
        ]
        assert links[0].link.id == links[1].link.id

    async def test_paying_closes_the_deal_with_exactly_one_receipt(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        stripe: FakePayments,
        dispatch: OutboxDispatch,
        collection: PaymentCollection,
        relay: OutboxRelay,
    ) -> None:
        """Both payment webhooks, each twice, enqueue one receipt and one note; the relay sends."""
        contact_id, deal_id = await _lead(wa, crm, dispatch)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        stripe.complete_checkout(sent.link.id)
        for event in stripe.drain_events() * 2:  # each webhook twice: redelivery changes nothing
            for event_type, handler in collection.subscriptions():
                if isinstance(event, event_type):
                    await handler(event)
        assert crm.deals[deal_id].stage is not DealStage.WON  # the handlers only enqueued
        await relay.run(until_idle=True)
        assert crm.deals[deal_id].stage is DealStage.WON
        messages = wa.sent_to(PATIENT)
        assert len(messages) == 2
        receipt = messages[1]
        assert isinstance(receipt, TemplateMessage)
        assert receipt.template == "payment_receipt"
        assert receipt.parameters == ("150.00 RON", "consultation")
        contact = crm.contacts[contact_id]
        assert contact.lifecycle_stage is LifecycleStage.CUSTOMER
        assert contact.properties[OPEN_DEAL_PROPERTY] == ""
        (note,) = crm.notes_of(contact_id)
        assert "Paid 150.00 RON for consultation" in note.body

    async def test_a_payment_that_is_not_ours_is_ignored(
        self,
        stripe: FakePayments,
        crm: FakeCRM,
        outbox: SqliteOutbox,
        collection: PaymentCollection,
    ) -> None:
        """A payment without deal metadata enqueues nothing and changes nothing in the CRM."""
        intent = await stripe.create_payment_intent(
            PaymentRequest(FEE, "shop", "ext-1", IdempotencyKey.new())
        )
        assert await collection.settle(intent.id) is None
        await collection.on_payment_succeeded(stripe.pay(intent.id))
        assert await _pending(outbox) == 0
        assert not crm.deals
        assert not crm.notes

    async def test_an_unpaid_intent_is_not_settled(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        stripe: FakePayments,
        dispatch: OutboxDispatch,
        outbox: SqliteOutbox,
        collection: PaymentCollection,
    ) -> None:
        """Settling an intent that has not succeeded enqueues no receipt."""
        contact_id, deal_id = await _lead(wa, crm, dispatch)
        intent = await stripe.create_payment_intent(
            PaymentRequest(
                FEE,
                "consultation",
                contact_id,
                IdempotencyKey.new(),
                {"contact_id": contact_id, "deal_id": deal_id},
            )
        )
        assert await collection.settle(intent.id) is None
        assert await _pending(outbox) == 0

    async def test_a_declined_payment_is_noted(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        stripe: FakePayments,
        dispatch: OutboxDispatch,
        collection: PaymentCollection,
        relay: OutboxRelay,
    ) -> None:
        """A failed attempt adds one note naming the decline code, never card data."""
        contact_id, _ = await _lead(wa, crm, dispatch)
        intent = await stripe.create_payment_intent(
            PaymentRequest(
                FEE, "consultation", contact_id, IdempotencyKey.new(), {"contact_id": contact_id}
            )
        )
        declined = stripe.decline(intent.id, "insufficient_funds")
        await collection.on_payment_failed(declined)
        await collection.on_payment_failed(declined)  # redelivered
        await relay.run(until_idle=True)
        (note,) = crm.notes_of(contact_id)
        assert "insufficient_funds" in note.body

    async def test_a_contact_without_phone_gets_no_link(
        self, crm: FakeCRM, collection: PaymentCollection
    ) -> None:
        """Requesting payment for an email-only contact is refused, naming the field."""
        contact = await crm.upsert_contact(ContactDraft(email=Email("ana@example.com")))
        with pytest.raises(InvalidValue, match="phone"):
            await collection.request_payment(
                contact_id=contact.id, deal_id="1", amount=FEE, description="consultation"
            )


class TestFollowUpCalls:
    """Calls are placed to the contact; their outcome lands on the contact's timeline."""

    async def test_the_outcome_of_a_call_is_noted_on_the_contact(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        vapi: FakeVoice,
        dispatch: OutboxDispatch,
        relay: OutboxRelay,
        clock: FakeClock,
    ) -> None:
        """The summary, duration and end reason of the call become one CRM note."""
        contact_id, _ = await _lead(wa, crm, dispatch)
        calls = FollowUpCalls(vapi, crm, dispatch, assistant_id="asst-1")
        requested = await calls.request_call(contact_id, reason="post-payment")
        call = requested.call
        assert call is not None
        assert call.to == PATIENT
        vapi.progress(call.id, CallStatus.IN_PROGRESS)
        clock.advance(61)
        ended = vapi.finish(call.id, summary="Booked for Monday.")
        await calls.on_call_ended(ended)
        await calls.on_call_ended(ended)  # redelivered
        await relay.run(until_idle=True)
        (note,) = crm.notes_of(contact_id)
        assert "post-payment" in note.body
        assert "61 s" in note.body
        assert "Booked for Monday." in note.body
        assert "customer-ended-call" in note.body

    async def test_a_call_requested_during_an_outage_is_placed_by_the_relay(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        vapi: FakeVoice,
        dispatch: OutboxDispatch,
        relay: OutboxRelay,
    ) -> None:
        """Vapi down (nothing sent): the call is queued, then placed once by the relay."""
        contact_id, _ = await _lead(wa, crm, dispatch)
        vapi.faults.fail_next(
            1, Unavailable("down", integration="vapi", request_sent=False), operation="start_call"
        )
        calls = FollowUpCalls(vapi, crm, dispatch, assistant_id="asst-1")
        requested = await calls.request_call(contact_id)
        assert requested.queued
        assert requested.call is None
        assert not vapi.calls_made
        await relay.run(until_idle=True)
        assert len(vapi.calls_made) == 1

    async def test_a_call_that_is_not_ours_is_ignored(
        self, crm: FakeCRM, vapi: FakeVoice, dispatch: OutboxDispatch
    ) -> None:
        """A call without a contact in its metadata adds no note."""
        call = await vapi.start_call(CallRequest(PATIENT, "asst-1"))
        calls = FollowUpCalls(vapi, crm, dispatch, assistant_id="asst-1")
        assert await calls.record_outcome(vapi.finish(call.id).outcome) is None
        assert not crm.notes


async def test_a_payment_unknown_to_this_account_is_acknowledged_not_failed(
    dispatch: OutboxDispatch, outbox: SqliteOutbox
) -> None:
    """A webhook about an intent this account never created settles nothing and raises nothing."""
    crm = FakeCRM()
    collection = PaymentCollection(
        payments=FakePayments(), crm=crm, dispatch=dispatch, success_url="https://x.test/ok"
    )
    when = datetime(2026, 1, 1, tzinfo=UTC)
    amount = Money(15000, "RON")
    succeeded = PaymentSucceeded(
        event_id="evt_1",
        provider="stripe",
        occurred_at=when,
        payment_intent_id="pi_unknown",
        amount=amount,
    )
    failed = PaymentFailed(
        event_id="evt_2",
        provider="stripe",
        occurred_at=when,
        payment_intent_id="pi_unknown",
        amount=amount,
    )
    assert await collection.settle("pi_unknown") is None
    await collection.on_payment_succeeded(succeeded)
    await collection.on_payment_failed(failed)
    assert crm.calls == []
    assert await _pending(outbox) == 0
