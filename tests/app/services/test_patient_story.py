"""The application services, driven through the shipped fakes (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.fakes import FakeCRM, FakeMessaging, FakePayments, FakeVoice, ManualClock
from app.services.follow_up_calls import FollowUpCalls
from app.services.lead_intake import OPEN_DEAL_PROPERTY, LeadIntake
from app.services.payment_collection import PaymentCollection
from domain.crm import ContactDraft, LifecycleStage
from domain.errors import InvalidValue, Unavailable
from domain.events import PaymentFailed, PaymentSucceeded
from domain.messaging import TemplateMessage, TextMessage
from domain.payments import PaymentRequest
from domain.values import Email, IdempotencyKey, Money, PhoneNumber
from domain.voice import CallRequest, CallStatus


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(name="wa")
def _wa(clock: ManualClock) -> FakeMessaging:
    return FakeMessaging(clock=clock)


@pytest.fixture(name="crm")
def _crm(clock: ManualClock) -> FakeCRM:
    return FakeCRM(clock=clock)


@pytest.fixture(name="stripe")
def _stripe(clock: ManualClock) -> FakePayments:
    return FakePayments(clock=clock)


@pytest.fixture(name="vapi")
def _vapi(clock: ManualClock) -> FakeVoice:
    return FakeVoice(clock=clock)


@pytest.fixture(name="collection")
def _collection(stripe: FakePayments, crm: FakeCRM, wa: FakeMessaging) -> PaymentCollection:
    return PaymentCollection(stripe, crm, wa)


async def _lead(wa: FakeMessaging, crm: FakeCRM) -> tuple[str, str]:
    await LeadIntake(crm).on_message_received(wa.receive(PATIENT, "Hi", name="Ana Pop"))
    contact = next(iter(crm.contacts.values()))
    return contact.id, contact.properties[OPEN_DEAL_PROPERTY]


class TestLeadIntake:
    """Inbound messages become one lead with one open deal."""

    async def test_a_new_sender_becomes_a_lead_with_one_deal(
        self, wa: FakeMessaging, crm: FakeCRM
    ) -> None:
        """The first message creates a LEAD named from the profile, and opens a deal."""
        lead = await LeadIntake(crm).intake(wa.receive(PATIENT, "Hi", name=" Ana Pop ").message)
        assert lead.opened
        assert lead.contact.lifecycle_stage is LifecycleStage.LEAD
        assert lead.contact.first_name == "Ana"
        assert crm.deals_of(lead.contact.id)[0].id == lead.deal_id

    async def test_more_messages_reuse_the_open_deal(self, wa: FakeMessaging, crm: FakeCRM) -> None:
        """Later messages (and redeliveries) find the same contact and the same deal."""
        intake = LeadIntake(crm)
        first = await intake.intake(wa.receive(PATIENT, "Hi").message)
        second = await intake.intake(wa.receive(PATIENT, "Are you there?").message)
        assert (second.contact.id, second.deal_id, second.opened) == (
            first.contact.id,
            first.deal_id,
            False,
        )
        assert len(crm.deals) == 1

    async def test_a_known_customer_keeps_their_name_and_stage(
        self, wa: FakeMessaging, crm: FakeCRM
    ) -> None:
        """A message from an existing customer does not rename or demote them."""
        await crm.upsert_contact(
            ContactDraft(phone=PATIENT, first_name="Ana", lifecycle_stage=LifecycleStage.CUSTOMER)
        )
        lead = await LeadIntake(crm).intake(wa.receive(PATIENT, "Hi", name="Someone").message)
        assert lead.contact.first_name == "Ana"
        assert lead.contact.lifecycle_stage is LifecycleStage.CUSTOMER

    async def test_a_crm_outage_propagates_and_the_retry_opens_one_deal(
        self, wa: FakeMessaging, crm: FakeCRM
    ) -> None:
        """A transient CRM failure fails the handler (so the webhook is retried), without dupes."""
        event = wa.receive(PATIENT, "Hi")
        intake = LeadIntake(crm)
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
        self, wa: FakeMessaging, crm: FakeCRM, collection: PaymentCollection
    ) -> None:
        """A patient who wrote recently gets the checkout URL as a text message."""
        contact_id, deal_id = await _lead(wa, crm)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        (message,) = wa.sent_to(PATIENT)
        assert isinstance(message, TextMessage)
        assert sent.link.url in message.body
        assert "150.00 RON" in message.body

    async def test_outside_the_window_the_link_goes_as_a_template(
        self, wa: FakeMessaging, crm: FakeCRM, collection: PaymentCollection, clock: ManualClock
    ) -> None:
        """After 24 hours of silence the refused text is replaced by the payment template."""
        contact_id, deal_id = await _lead(wa, crm)
        clock.advance(25 * 3600)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        (message,) = wa.sent_to(PATIENT)
        assert isinstance(message, TemplateMessage)
        assert message.template == "payment_link"
        assert message.parameters == ("consultation", "150.00 RON", sent.link.url)

    async def test_requesting_again_reuses_the_same_checkout(
        self, wa: FakeMessaging, crm: FakeCRM, collection: PaymentCollection
    ) -> None:
        """The same deal and amount reuse one checkout session (derived idempotency key)."""
        contact_id, deal_id = await _lead(wa, crm)
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
        collection: PaymentCollection,
    ) -> None:
        """Both payment webhooks settle the deal; the receipt and note are sent once."""
        contact_id, deal_id = await _lead(wa, crm)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        stripe.complete_checkout(sent.link.id)
        for event in stripe.drain_events() * 2:  # each webhook twice: redelivery changes nothing
            for event_type, handler in collection.subscriptions():
                if isinstance(event, event_type):
                    await handler(event)
        assert crm.deals[deal_id].stage == "closedwon"
        messages = wa.sent_to(PATIENT)
        assert len(messages) == 2
        assert isinstance(messages[1], TextMessage)
        assert "received your payment of 150.00 RON" in messages[1].body
        contact = crm.contacts[contact_id]
        assert contact.lifecycle_stage is LifecycleStage.CUSTOMER
        assert contact.properties[OPEN_DEAL_PROPERTY] == ""
        assert len(crm.notes_of(contact_id)) == 1

    async def test_a_payment_that_is_not_ours_is_ignored(
        self, stripe: FakePayments, crm: FakeCRM, collection: PaymentCollection
    ) -> None:
        """A payment without deal metadata changes nothing in the CRM."""
        intent = await stripe.create_payment_intent(
            PaymentRequest(FEE, "shop", "ext-1", IdempotencyKey.new())
        )
        assert await collection.settle(intent.id) is None
        await collection.on_payment_succeeded(stripe.pay(intent.id))
        assert not crm.deals
        assert not crm.notes

    async def test_a_declined_payment_is_noted(
        self, wa: FakeMessaging, crm: FakeCRM, stripe: FakePayments, collection: PaymentCollection
    ) -> None:
        """A failed attempt adds a note naming the decline code, never card data."""
        contact_id, _ = await _lead(wa, crm)
        intent = await stripe.create_payment_intent(
            PaymentRequest(
                FEE, "consultation", contact_id, IdempotencyKey.new(), {"contact_id": contact_id}
            )
        )
        await collection.on_payment_failed(stripe.decline(intent.id, "insufficient_funds"))
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
        self, wa: FakeMessaging, crm: FakeCRM, vapi: FakeVoice, clock: ManualClock
    ) -> None:
        """The summary, duration and end reason of the call become a CRM note."""
        contact_id, _ = await _lead(wa, crm)
        calls = FollowUpCalls(vapi, crm, assistant_id="asst-1")
        call = await calls.request_call(contact_id, reason="post-payment")
        assert call.to == PATIENT
        vapi.progress(call.id, CallStatus.IN_PROGRESS)
        clock.advance(61)
        await calls.on_call_ended(vapi.finish(call.id, summary="Booked for Monday."))
        (note,) = crm.notes_of(contact_id)
        assert "post-payment" in note.body
        assert "61 s" in note.body
        assert "Booked for Monday." in note.body
        assert "customer-ended-call" in note.body

    async def test_a_call_that_is_not_ours_is_ignored(self, crm: FakeCRM, vapi: FakeVoice) -> None:
        """A call without a contact in its metadata adds no note."""
        call = await vapi.start_call(CallRequest(PATIENT, "asst-1"))
        calls = FollowUpCalls(vapi, crm, assistant_id="asst-1")
        assert await calls.record_outcome(vapi.finish(call.id).outcome) is None
        assert not crm.notes


async def test_a_payment_unknown_to_this_account_is_acknowledged_not_failed() -> None:
    """A webhook about an intent this account never created settles nothing and raises nothing."""
    crm = FakeCRM()
    collection = PaymentCollection(
        payments=FakePayments(), crm=crm, messaging=FakeMessaging(), success_url="https://x.test/ok"
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
