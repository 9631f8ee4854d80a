"""A paid deal's receipt also goes by email, through the outbox, when the contact has an address."""

from __future__ import annotations

from tests.app.services.conftest import Ticker

from portico.adapters.fakes import FakeClock, FakeCRM, FakeEmail, FakeMessaging, FakePayments
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.lead_intake import OPEN_DEAL_PROPERTY, LeadIntake
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.payment_collection import PaymentCollection
from portico.domain.crm import ContactDraft
from portico.domain.values import Email, Money, PhoneNumber
from portico.ports.execute import CommandPorts


PATIENT = PhoneNumber("+40712345678")
ADDRESS = Email("ana@example.com")
MAILBOX = "receipts@clinic.example"


async def _paid(*, with_email: bool, sender: str | None) -> tuple[FakeEmail, FakeMessaging]:
    clock, ticker = FakeClock(), Ticker()
    wa, crm, stripe = FakeMessaging(clock=clock), FakeCRM(clock=clock), FakePayments(clock=clock)
    mail = FakeEmail(clock=clock, mailboxes=(MAILBOX,))
    outbox = SqliteOutbox(":memory:", clock=ticker)
    ports = CommandPorts(messaging=wa, crm=crm, payments=stripe, email=mail)
    dispatch = OutboxDispatch(outbox, ports)
    relay = OutboxRelay(outbox, ports, clock=ticker, uniform=lambda a, b: (a + b) / 2)
    try:
        await LeadIntake(crm, dispatch).on_message_received(wa.receive(PATIENT, "Hi"))
        contact = next(iter(crm.contacts.values()))
        if with_email:
            await crm.upsert_contact(ContactDraft(phone=PATIENT, email=ADDRESS))
            assert crm.contacts[contact.id].email == ADDRESS
        collection = PaymentCollection(stripe, crm, dispatch, email_sender=sender)
        sent = await collection.request_payment(
            contact_id=contact.id,
            deal_id=contact.properties[OPEN_DEAL_PROPERTY],
            amount=Money.of("150.00", "RON"),
            description="consultation",
        )
        stripe.complete_checkout(sent.link.id)
        for event in stripe.drain_events() * 2:  # redelivered: still one receipt
            for event_type, handler in collection.subscriptions():
                if isinstance(event, event_type):
                    await handler(event)
        await relay.run(until_idle=True)
    finally:
        await outbox.close()
    return mail, wa


async def test_the_receipt_is_emailed_once_to_a_contact_with_an_address() -> None:
    """Both Stripe events, each twice: one email from the clinic's mailbox, and the WhatsApp one."""
    mail, wa = await _paid(with_email=True, sender=MAILBOX)
    (receipt,) = mail.sent_to(ADDRESS)
    assert receipt.sender == Email(MAILBOX)
    assert receipt.text is not None
    assert "150.00 RON" in receipt.text
    assert len(wa.sent_to(PATIENT)) == 2  # the link and the template receipt, as before


async def test_no_email_without_an_address_or_without_a_sender() -> None:
    """A contact without email, or a host without an email sender, gets no emailed receipt."""
    for with_email, sender in ((False, MAILBOX), (True, None)):
        mail, _ = await _paid(with_email=with_email, sender=sender)
        assert mail.sent == []
