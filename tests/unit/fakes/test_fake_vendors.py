"""Vendor behaviour of the fakes beyond the port contracts: ids, windows, expiry, controls."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from portico.adapters.fakes import FakeClock, FakeCRM, FakeMessaging, FakePayments, FakeVoice
from portico.domain.crm import ContactDraft
from portico.domain.errors import Conflict, InvalidRequest, NotFound
from portico.domain.events import (
    CallEnded,
    CheckoutCompleted,
    ContactChanged,
    MessageReceived,
    MessageStatusChanged,
    PaymentSucceeded,
    RefundIssued,
)
from portico.domain.messaging import DeliveryStatus, TemplateMessage, TextMessage
from portico.domain.payments import CheckoutRequest, PaymentRequest, PaymentStatus, RefundRequest
from portico.domain.values import Email, IdempotencyKey, Money, PhoneNumber
from portico.domain.voice import CallRequest, CallStatus


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "EUR")


def _clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


class TestFakeMessaging:
    """WhatsApp's rules, played in memory."""

    async def test_ids_look_like_meta_ids_and_carry_no_phone_number(self) -> None:
        """Message ids start with wamid. and do not encode the recipient's number."""
        wa = FakeMessaging(enforce_window=False)
        receipt = await wa.send(TextMessage(PATIENT, "hi"))
        assert receipt.message_id.startswith("wamid.")
        assert (receipt.status, receipt.provider) == (DeliveryStatus.QUEUED, "whatsapp")
        assert PATIENT.digits not in receipt.message_id

    async def test_text_needs_the_window_the_patient_opened(self) -> None:
        """Text is refused (131047) until the patient writes, and again 24 hours later."""
        clock = _clock()
        wa = FakeMessaging(clock=clock)
        with pytest.raises(InvalidRequest) as refused:
            await wa.send(TextMessage(PATIENT, "hi"))
        assert refused.value.vendor_code == "131047"
        event = wa.receive(PATIENT, "hello")
        assert isinstance(event, MessageReceived)
        assert event.message.sender == PATIENT
        await wa.send(TextMessage(PATIENT, "hi"))
        clock.advance(24 * 3600)
        with pytest.raises(InvalidRequest):
            await wa.send(TextMessage(PATIENT, "hi"))
        assert (await wa.send(TemplateMessage(PATIENT, "hello_world"))).message_id

    async def test_only_approved_templates_are_accepted(self) -> None:
        """With approved_templates set, another name is refused (132001)."""
        wa = FakeMessaging(approved_templates={"payment_link"})
        await wa.send(TemplateMessage(PATIENT, "payment_link"))
        with pytest.raises(InvalidRequest) as refused:
            await wa.send(TemplateMessage(PATIENT, "promo"))
        assert refused.value.vendor_code == "132001"

    async def test_advance_returns_the_webhook_event_even_when_late(self) -> None:
        """Each status report is an event; a late one does not move the status back."""
        wa = FakeMessaging(enforce_window=False)
        receipt = await wa.send(TextMessage(PATIENT, "hi"))
        wa.advance(receipt.message_id, DeliveryStatus.READ)
        late = wa.advance(receipt.message_id, DeliveryStatus.SENT)
        assert isinstance(late, MessageStatusChanged)
        assert late.status is DeliveryStatus.SENT
        assert (await wa.get_status(receipt.message_id)).status is DeliveryStatus.READ
        assert len(wa.drain_events()) == 2
        assert wa.events == []
        with pytest.raises(NotFound):
            wa.advance("wamid.nope", DeliveryStatus.SENT)


class TestFakeCRM:
    """HubSpot's rules, played in memory."""

    async def test_ids_are_numeric_strings(self) -> None:
        """Contact, deal and note ids are HubSpot-style numeric strings."""
        crm = FakeCRM()
        contact = await crm.upsert_contact(ContactDraft(phone=PATIENT))
        note = await crm.add_note(contact.id, "hello")
        assert contact.id.isdigit()
        assert note.id.isdigit()

    async def test_emails_match_case_insensitively(self) -> None:
        """ANA@example.com and ana@example.com are the same contact."""
        crm = FakeCRM()
        first = await crm.upsert_contact(ContactDraft(email=Email("Ana@example.com")))
        assert await crm.find_contact(email=Email("ana@EXAMPLE.com")) == first

    async def test_unknown_properties_are_refused_when_the_schema_is_known(self) -> None:
        """With known_properties set, another property is refused (PROPERTY_DOESNT_EXIST)."""
        crm = FakeCRM(known_properties={"city"})
        await crm.upsert_contact(ContactDraft(phone=PATIENT, properties={"city": "Cluj"}))
        with pytest.raises(InvalidRequest) as refused:
            await crm.upsert_contact(ContactDraft(phone=PATIENT, properties={"shoe": "42"}))
        assert refused.value.vendor_code == "PROPERTY_DOESNT_EXIST"

    async def test_changes_emit_contact_events_and_no_op_upserts_do_not(self) -> None:
        """A created or changed contact is a ContactChanged event; an identical upsert is none."""
        crm = FakeCRM()
        await crm.upsert_contact(ContactDraft(phone=PATIENT))
        await crm.upsert_contact(ContactDraft(phone=PATIENT))
        await crm.upsert_contact(ContactDraft(phone=PATIENT, first_name="Ana"))
        events = crm.drain_events()
        assert all(isinstance(e, ContactChanged) for e in events)
        assert [e.change for e in events if isinstance(e, ContactChanged)] == [
            "created",
            "property_changed",
        ]

    async def test_notes_are_timestamped_by_the_clock(self) -> None:
        """A note's created_at is the injected clock's now."""
        clock = _clock()
        crm = FakeCRM(clock=clock)
        contact = await crm.upsert_contact(ContactDraft(phone=PATIENT))
        assert (await crm.add_note(contact.id, "hi")).created_at == clock.now()


class TestFakePayments:
    """Stripe's rules, played in memory."""

    def _request(self, key: IdempotencyKey | None = None) -> PaymentRequest:
        return PaymentRequest(FEE, "consultation", "P-1", key or IdempotencyKey.new())

    async def test_ids_look_like_stripe_ids(self) -> None:
        """Intents are pi_, refunds re_, sessions cs_ with a checkout.stripe.com URL."""
        stripe = FakePayments()
        intent = await stripe.create_payment_intent(self._request())
        stripe.pay(intent.id)
        refund = await stripe.refund(RefundRequest(intent.id, IdempotencyKey.new()))
        link = await stripe.create_checkout_link(
            CheckoutRequest(FEE, "consultation", "P-1", "https://clinic.example/ok")
        )
        assert re.fullmatch(r"pi_[A-Za-z0-9]{25}", intent.id)
        assert intent.client_secret
        assert intent.client_secret.startswith(f"{intent.id}_secret_")
        assert refund.id.startswith("re_")
        assert link.id.startswith("cs_test_")
        assert link.url == f"https://checkout.stripe.com/c/pay/{link.id}"

    async def test_an_idempotency_key_expires_after_24_hours(self) -> None:
        """After 24 hours the same key creates a new intent, as at Stripe."""
        clock = _clock()
        stripe = FakePayments(clock=clock)
        key = IdempotencyKey.new()
        first = await stripe.create_payment_intent(self._request(key))
        clock.advance(24 * 3600)
        assert (await stripe.create_payment_intent(self._request(key))).id != first.id

    async def test_a_key_is_shared_across_endpoints(self) -> None:
        """A key used for an intent cannot be reused for a checkout (Conflict)."""
        stripe = FakePayments()
        key = IdempotencyKey.new()
        await stripe.create_payment_intent(self._request(key))
        with pytest.raises(Conflict):
            await stripe.create_checkout_link(
                CheckoutRequest(FEE, "c", "P-1", "https://x.example/", idempotency_key=key)
            )

    async def test_a_refused_request_stores_nothing_under_its_key(self) -> None:
        """A request refused as invalid leaves its key free for a corrected request."""
        stripe = FakePayments()
        key = IdempotencyKey.new()
        with pytest.raises(InvalidRequest):
            await stripe.create_payment_intent(PaymentRequest(Money(1, "EUR"), "c", "P-1", key))
        assert (await stripe.create_payment_intent(self._request(key))).amount == FEE

    async def test_completing_a_checkout_pays_and_emits_both_webhooks(self) -> None:
        """complete_checkout creates a paid intent and emits PaymentSucceeded then the session."""
        stripe = FakePayments()
        link = await stripe.create_checkout_link(
            CheckoutRequest(FEE, "c", "P-1", "https://x.example/", metadata={"deal_id": "7"})
        )
        completed = stripe.complete_checkout(link.id)
        succeeded, session = stripe.drain_events()
        assert isinstance(succeeded, PaymentSucceeded)
        assert isinstance(session, CheckoutCompleted)
        assert session == completed
        assert completed.payment_intent_id == succeeded.payment_intent_id
        intent = await stripe.get_payment_intent(succeeded.payment_intent_id)
        assert intent.status is PaymentStatus.SUCCEEDED
        assert intent.metadata["deal_id"] == "7"
        with pytest.raises(InvalidRequest):
            stripe.complete_checkout(link.id)

    async def test_an_expired_checkout_cannot_be_paid(self) -> None:
        """Past expires_at, the session is refused."""
        clock = _clock()
        stripe = FakePayments(clock=clock)
        link = await stripe.create_checkout_link(
            CheckoutRequest(
                FEE,
                "c",
                "P-1",
                "https://x.example/",
                expires_in_seconds=1800,
                created_at=clock.now(),
            )
        )
        clock.advance(1800)
        with pytest.raises(InvalidRequest):
            stripe.complete_checkout(link.id)
        with pytest.raises(NotFound):
            stripe.complete_checkout("cs_test_nope")

    async def test_refunds_emit_events_and_are_tracked(self) -> None:
        """A refund emits RefundIssued, and refunded() sums what went back."""
        stripe = FakePayments()
        intent = await stripe.create_payment_intent(self._request())
        stripe.pay(intent.id)
        await stripe.refund(RefundRequest(intent.id, IdempotencyKey.new(), Money(4000, "EUR")))
        (paid, refunded) = stripe.drain_events()
        assert isinstance(paid, PaymentSucceeded)
        assert isinstance(refunded, RefundIssued)
        assert stripe.refunded(intent.id) == Money(4000, "EUR")

    async def test_a_declined_intent_can_still_be_paid(self) -> None:
        """decline() reports PaymentFailed; the intent still awaits a payment method."""
        stripe = FakePayments()
        intent = await stripe.create_payment_intent(self._request())
        failed = stripe.decline(intent.id)
        assert failed.failure_code == "card_declined"
        assert stripe.pay(intent.id).amount == FEE
        with pytest.raises(InvalidRequest):
            stripe.pay(intent.id)


class TestFakeVoice:
    """Vapi's rules, played in memory."""

    async def test_calls_have_uuid_ids_and_move_forward_only(self) -> None:
        """Ids are UUID4s; a late 'ringing' after 'in-progress' changes nothing."""
        vapi = FakeVoice()
        call = await vapi.start_call(CallRequest(PATIENT, "asst"))
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", call.id
        )
        vapi.progress(call.id, CallStatus.IN_PROGRESS)
        vapi.progress(call.id, CallStatus.RINGING)
        assert (await vapi.get_call(call.id)).status is CallStatus.IN_PROGRESS

    async def test_unknown_assistants_and_blocked_numbers_are_refused(self) -> None:
        """An assistant that does not exist is NotFound; a blocked range is InvalidRequest."""
        vapi = FakeVoice(assistants={"asst"})
        with pytest.raises(NotFound):
            await vapi.start_call(CallRequest(PATIENT, "other"))
        with pytest.raises(InvalidRequest):
            await vapi.start_call(CallRequest("+1 900 234 5678", "asst"))

    async def test_finish_reports_duration_from_answer_to_end(self) -> None:
        """The end-of-call report's duration runs from in-progress to ended, by the clock."""
        clock = _clock()
        vapi = FakeVoice(clock=clock, seed=7)
        call = await vapi.start_call(CallRequest(PATIENT, "asst"))
        vapi.progress(call.id, CallStatus.IN_PROGRESS)
        clock.advance(42)
        ended = vapi.finish(call.id, summary="ok")
        assert isinstance(ended, CallEnded)
        assert ended.outcome.duration_seconds == 42
        assert ended.outcome.ended_reason == "customer-ended-call"
        assert ended.outcome.recording_url
        assert (await vapi.end_call(call.id)).ended_reason == "customer-ended-call"

    async def test_seeded_fakes_are_reproducible(self) -> None:
        """Two fakes with the same seed hand out the same ids."""
        first, second = FakeVoice(seed=1), FakeVoice(seed=1)
        request = CallRequest(PATIENT, "asst")
        assert (await first.start_call(request)).id == (await second.start_call(request)).id
