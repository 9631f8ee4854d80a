"""
``portico demo``: the patient story end to end, on the fakes, printed as a short report.

The story itself lives in the application services; this module only plays the outside world
(the patient, WhatsApp, Stripe, Vapi) through the fakes' vendor-side controls, and hands every
event their webhooks would have delivered to the services' handlers, as the webhook ingress does.
Webhook handlers only enqueue their side effects; the outbox relay (an in-memory SQLite outbox
here) delivers them, so the report shows each batch going from queued to delivered.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterable

from ...adapters.fakes import (
    FakeClock,
    FakeCRM,
    FakeEmail,
    FakeMessaging,
    FakePayments,
    FakeVoice,
)
from ...domain.crm import Contact, ContactDraft
from ...domain.events import DomainEvent
from ...domain.messaging import DeliveryStatus
from ...domain.values import Email, Money, PhoneNumber
from ...domain.voice import CallStatus
from ..services.lead_intake import OPEN_DEAL_PROPERTY
from ..services.outbox_relay import OutboxRelay
from ..services.webhook_values import Subscription
from ..wiring.container import Container, create_container


__all__ = ["main", "run_story"]

PATIENT = PhoneNumber("+40 712 345 678")
FEE = Money.of("150.00", "RON")
EMAIL = Email("ana.popescu@example.com")
# Throwaway stores: the demo leaves no file behind.
DEMO_CONFIG = {"environment": "fake"}


class StoryFailed(Exception):
    """A step of the story did not leave the state it should have."""


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise StoryFailed(what)


class _Dispatcher:
    """Hands each event to every subscribed handler, as the webhook ingress does."""

    def __init__(self, subscriptions: Iterable[Subscription]) -> None:
        self.subscriptions = tuple(subscriptions)
        self.dispatched = 0

    async def __call__(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            self.dispatched += 1
            for event_type, handler in self.subscriptions:
                if isinstance(event, event_type):
                    await handler(event)


def _line(step: str, detail: str) -> str:
    return f"  {step:<34} {detail}"


async def _drain(relay: OutboxRelay) -> str:
    """Run the relay until the outbox is empty; the report line for what it delivered."""
    before = relay.stats.delivered
    await relay.run(until_idle=True)
    pending = sum(b.pending + b.in_flight for b in (await relay.outbox.status()).integrations)
    _expect(pending == 0, "the relay drained the outbox")
    delivered = relay.stats.delivered - before
    return f"queued -> delivered: {delivered} command{'s' * (delivered != 1)} by the relay"


async def run_story(container: Container, clock: FakeClock) -> list[str]:
    """Play the story on ``container``'s fakes; return the report's lines."""
    wa: FakeMessaging = container.fake_messaging()
    hubspot: FakeCRM = container.fake_crm()
    stripe: FakePayments = container.fake_payments()
    vapi: FakeVoice = container.fake_voice()
    crm = container.crm()
    relay: OutboxRelay = container.relay()
    intake, collection, calls = (
        container.lead_intake(),
        container.payment_collection(),
        container.follow_up_calls(),
    )
    dispatch = _Dispatcher(
        [*intake.subscriptions(), *collection.subscriptions(), *calls.subscriptions()]
    )
    out = ["Portico demo: one patient, five vendors, all in-memory fakes (no network)\n"]

    inbound = wa.receive(PATIENT, "Hello, I'd like to book a consultation.", name="Ana Popescu")
    await dispatch(wa.drain_events())
    out.append(_line(f"1. Patient {PATIENT.masked} writes", f"WhatsApp {inbound.event_id[:22]}…"))
    contact = await crm.find_contact(phone=PATIENT)
    _expect(contact is not None, "the patient became a CRM contact")
    assert isinstance(contact, Contact)
    stage = contact.lifecycle_stage.value if contact.lifecycle_stage else "none"
    out.append(_line("2. Contact upserted in the CRM", f"HubSpot contact {contact.id} ({stage})"))
    deal_id = contact.properties.get(OPEN_DEAL_PROPERTY, "")
    deals = hubspot.deals_of(contact.id)
    _expect(len(deals) == 1 and deals[0].id == deal_id, "exactly one deal was opened")
    out.append(_line("3. Deal opened", f"deal {deal_id}, stage {deals[0].stage.value}"))
    await crm.upsert_contact(ContactDraft(phone=PATIENT, email=EMAIL))
    out.append(_line("   Email address on file", EMAIL.masked))

    clock.advance(60)
    sent = await collection.request_payment(
        contact_id=contact.id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    out.append(_line("4. Checkout link created", f"{sent.link.url[:48]}… ({FEE})"))
    _expect(sent.message is not None, "the link went out at once (WhatsApp is up)")
    assert sent.message is not None
    for status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ):
        clock.advance(5)
        wa.advance(sent.message.message_id, status)
    await dispatch(wa.drain_events())
    read = await container.messaging().get_status(sent.message.message_id)
    out.append(_line("   ... and sent by message", f"WhatsApp, {read.status.value} (sent now)"))

    clock.advance(120)
    completed = stripe.complete_checkout(sent.link.id)
    paid = stripe.drain_events()
    await dispatch(paid * 2)  # every webhook delivered twice, as providers may
    _expect(completed.payment_intent_id is not None, "the checkout produced a payment")
    intent = await container.payments().get_payment_intent(str(completed.payment_intent_id))
    out.append(_line("5. Payment succeeded", f"Stripe {intent.id}, {intent.amount_received}"))
    queued = (await relay.outbox.status()).integrations
    out.append(
        _line(
            "   Webhooks answered at once",
            f"{sum(b.pending for b in queued)} side effects queued in the outbox",
        )
    )
    out.append(_line("   Outbox relay", await _drain(relay)))
    deal = hubspot.deals[deal_id]
    _expect(deal.stage == collection.won_stage, "the paid deal moved to the won stage")
    out.append(_line("6. Deal moved", f"deal {deal.id}, stage {deal.stage.value}"))
    to_patient = wa.sent_to(PATIENT)
    _expect(len(to_patient) == 2, "exactly one receipt followed the payment link")
    out.append(
        _line("   Receipt sent by message", f"once, for {2 * len(paid)} payment webhook deliveries")
    )
    mail: FakeEmail = container.fake_email()
    _expect(len(mail.sent_to(EMAIL)) == 1, "exactly one receipt went by email")
    out.append(_line("   Receipt sent by email", f"once, from {mail.sent[0].sender.address}"))

    clock.advance(3600)
    requested = await calls.request_call(contact.id, reason="post-payment follow-up")
    call = requested.call
    _expect(call is not None, "the call was placed at once (Vapi is up)")
    assert call is not None
    out.append(_line("7. Follow-up call requested", f"Vapi {call.id[:8]}… ({call.status.value})"))
    vapi.progress(call.id, CallStatus.RINGING)
    clock.advance(8)
    vapi.progress(call.id, CallStatus.IN_PROGRESS)
    clock.advance(94)
    vapi.finish(
        call.id,
        summary="Patient confirmed the Monday 10:00 appointment and asked about parking.",
        transcript="AI: Hello, this is the clinic... Patient: Yes, Monday works.",
    )
    await dispatch(vapi.drain_events())
    drained = await _drain(relay)
    outcome = vapi.outcomes[call.id]
    notes = hubspot.notes_of(contact.id)
    _expect(notes[-1].body.startswith("Voice call"), "the call's outcome was noted")
    out.append(
        _line(
            "   Call ended, outcome noted",
            f"{outcome.ended_reason}, {outcome.duration_seconds:.0f} s, note {notes[-1].id}",
        )
    )
    out.append(_line("   Outbox relay", drained))
    final = await crm.get_contact(contact.id)
    stage = final.lifecycle_stage.value if final.lifecycle_stage else "contact"
    out.append(
        f"\nDone: contact {final.id} is now a {stage} with {len(notes)} notes; "
        f"{len(to_patient)} messages sent, {len(vapi.calls_made)} call, "
        f"{dispatch.dispatched} webhook events handled."
    )
    return out


def main() -> int:
    """Run the story on a fresh fake container and print the report; 0 when every step held."""
    clock = FakeClock()
    # The stores are real SQLite files in a fresh folder, named here, so the operator commands can
    # look at what the story left (PORTICO_DATA_DIR=<folder> portico outbox status).
    data_dir = tempfile.mkdtemp(prefix="portico-demo-")
    print(f"Data directory: {data_dir} (fake environment; in-memory vendors)\n")
    container = create_container({**DEMO_CONFIG, "data_dir": data_dir}, env={}, clock=clock)
    try:
        lines = asyncio.run(run_story(container, clock))
    except StoryFailed as failed:
        print(f"demo failed: {failed}")
        return 1
    print("\n".join(lines))
    return 0
