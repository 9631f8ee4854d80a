"""
Issue 12, WhatsApp: a text accepted and then reported ``failed`` with 131047 (outside the 24-hour
window) is sent again as its approved template, once, through the outbox.

Meta's error-codes page says Cloud API errors come "synchronously as a Graph API response,
asynchronously via Webhook, or sometimes through both"
(https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/);
both paths are played here, by the fake (``window_errors``) and by the HTTP simulator, whose
failed status webhook has the shape of Meta's status webhook reference.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from tests.app.services.conftest import Ticker
from tests.simulators.whatsapp import WhatsAppSimulator

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments, FakeVoice
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.whatsapp import WhatsAppMessaging, meta_cloud
from portico.adapters.whatsapp.status_log import MemoryDeliveryStatusStore
from portico.adapters.whatsapp.status_sqlite import SQLiteDeliveryStatusStore
from portico.app.services.lead_intake import LeadIntake
from portico.app.services.message_failures import MessageFailures
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.payment_collection import LinkStatus, PaymentCollection
from portico.app.wiring.subscriptions import subscribe
from portico.app.wiring.webhooks import build_webhook_ingress
from portico.domain.crm import ContactDraft, DealDraft, DealStage
from portico.domain.events import DomainEvent, MessageStatusChanged
from portico.domain.messaging import DeliveryStatus, TemplateMessage, TextMessage
from portico.domain.values import Money, PhoneNumber
from portico.domain.webhooks import WebhookRequest
from portico.ports.execute import CommandPorts


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


def _statuses(events: list[DomainEvent]) -> list[MessageStatusChanged]:
    return [e for e in events if isinstance(e, MessageStatusChanged)]


async def _pending(outbox: SqliteOutbox) -> int:
    return sum(b.pending for b in (await outbox.status()).integrations)


async def _silent_lead(
    wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch
) -> tuple[str, str]:
    """A lead whose window has closed: (contact id, deal id)."""
    lead = await LeadIntake(crm, dispatch).intake(wa.receive(PATIENT, "Hi").message)
    wa.close_window(PATIENT)
    wa.drain_events()
    return lead.contact.id, lead.deal_id


class TestWithTheFake:
    """The fake plays both of Meta's paths; the services fall back on each."""

    async def test_an_accepted_text_that_fails_later_is_sent_as_its_template_once(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        stripe: FakePayments,
        dispatch: OutboxDispatch,
        outbox: SqliteOutbox,
        relay: OutboxRelay,
    ) -> None:
        """
        Asynchronous 131047: the text is accepted, its failed status (delivered twice) queues
        the link template once, the relay sends it, and a later redelivery adds nothing.
        """
        wa.window_errors = "async"
        store = MemoryDeliveryStatusStore()
        contact_id, deal_id = await _silent_lead(wa, crm, dispatch)
        collection = PaymentCollection(stripe, crm, dispatch, fallbacks=store)
        sent = await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        assert sent.status is LinkStatus.SENT  # Meta accepted the text
        (failed,) = _statuses(wa.drain_events())
        assert (failed.status, failed.error_code) == (DeliveryStatus.FAILED, "131047")
        assert failed.error_title == "Re-engagement message"

        failures = MessageFailures(dispatch, store)
        first = await failures.fall_back(failed)
        again = await failures.fall_back(failed)  # the webhook redelivered
        assert first is not None
        assert again is not None
        assert first.entry_id == again.entry_id
        assert await _pending(outbox) == 1
        await relay.run(until_idle=True)
        await failures.on_status_changed(failed)  # redelivered after the template went out
        await relay.run(until_idle=True)

        text, template = wa.sent_to(PATIENT)
        assert isinstance(text, TextMessage)
        assert isinstance(template, TemplateMessage)
        assert template.template == "payment_link"
        assert template.parameters == ("consultation", "150.00 RON", sent.link.url)

    async def test_a_synchronous_refusal_still_sends_the_template_at_once(
        self,
        wa: FakeMessaging,
        crm: FakeCRM,
        stripe: FakePayments,
        dispatch: OutboxDispatch,
        outbox: SqliteOutbox,
    ) -> None:
        """Synchronous 131047 (the default): the template goes now, nothing waits for a webhook."""
        store = MemoryDeliveryStatusStore()
        contact_id, deal_id = await _silent_lead(wa, crm, dispatch)
        collection = PaymentCollection(stripe, crm, dispatch, fallbacks=store)
        await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
        (template,) = wa.sent_to(PATIENT)
        assert isinstance(template, TemplateMessage)
        assert _statuses(wa.drain_events()) == []
        assert await _pending(outbox) == 0

    async def test_other_failures_send_nothing_and_are_logged_masked(
        self,
        wa: FakeMessaging,
        dispatch: OutboxDispatch,
        outbox: SqliteOutbox,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """An accepted text failing with another code (131026) queues nothing; the log says why."""
        store = MemoryDeliveryStatusStore()
        wa.receive(PATIENT, "Hi")
        receipt = await wa.send(TextMessage(PATIENT, "Your appointment is at 10:00"))
        await store.remember_fallback(receipt.message_id, "not even read")
        failed = wa.advance(receipt.message_id, DeliveryStatus.FAILED, error_code="131026")
        with caplog.at_level(logging.WARNING, logger="portico.services"):
            assert await MessageFailures(dispatch, store).fall_back(failed) is None
        assert await _pending(outbox) == 0
        assert "failed (131026" in caplog.text
        assert PATIENT.digits not in caplog.text
        assert receipt.message_id not in caplog.text  # Meta's wamids embed the number

    async def test_a_failure_with_nothing_kept_sends_nothing(
        self, dispatch: OutboxDispatch, outbox: SqliteOutbox
    ) -> None:
        """A 131047 for a text Portico kept no template for (another system's) queues nothing."""
        fake = FakeMessaging(window_errors="async")
        fake.close_window(PATIENT)
        await fake.send(TextMessage(PATIENT, "Hello"))
        (failed,) = _statuses(fake.drain_events())
        assert (
            await MessageFailures(dispatch, MemoryDeliveryStatusStore()).fall_back(failed) is None
        )
        assert await MessageFailures(dispatch, None).fall_back(failed) is None
        assert await _pending(outbox) == 0


def test_the_fake_refuses_an_unknown_window_mode() -> None:
    """window_errors is "sync" or "async"; anything else is refused naming it."""
    with pytest.raises(ValueError, match="window_errors"):  # attrs names the field
        FakeMessaging(window_errors="later")  # type: ignore[arg-type]


# ------------------------------------------------------------------ over HTTP, Meta's webhook


async def test_the_simulators_failed_webhook_sends_the_template_once_over_http(
    tmp_path: Path, ticker: Ticker
) -> None:
    """
    End to end against the simulator: the text is accepted (200, a wamid), Meta's signed failed
    status webhook reaches the ingress twice, the template kept in the SQLite status store (read
    by another instance, as after a restart) is queued once and the relay sends it over HTTP.
    """
    sim = WhatsAppSimulator(enforce_window=True, window_errors="async", approved_templates=None)
    path = tmp_path / "portico-status.sqlite3"
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3", clock=ticker)
    async with httpx.AsyncClient(
        base_url="https://graph.facebook.com", transport=httpx.ASGITransport(app=sim)
    ) as http:
        sender_store = SQLiteDeliveryStatusStore(path)
        wa = WhatsAppMessaging(
            http=http,
            credential=sim.token,
            flavour=meta_cloud(),
            phone_number_id=sim.phone_number_id,
            status_log=sender_store,
        )
        crm, stripe = FakeCRM(clock=ticker), FakePayments(clock=ticker)
        ports = CommandPorts(messaging=wa, crm=crm, payments=stripe, voice=FakeVoice(clock=ticker))
        dispatch = OutboxDispatch(outbox, ports)
        contact = await crm.upsert_contact(ContactDraft(phone=PATIENT))
        deal = await crm.create_deal(DealDraft(contact.id, "Enquiry", DealStage.OPEN))
        collection = PaymentCollection(stripe, crm, dispatch, fallbacks=sender_store)
        sent = await collection.request_payment(
            contact_id=contact.id, deal_id=deal.id, amount=FEE, description="consultation"
        )
        assert sent.status is LinkStatus.SENT
        await sender_store.close()

        (delivery,) = sim.take_webhooks()
        body, headers = delivery
        webhook_store = SQLiteDeliveryStatusStore(path)  # the webhook process's own instance
        ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
        subscribe(ingress, [MessageFailures(dispatch, webhook_store)], status_log=webhook_store)
        request = WebhookRequest("POST", "https://portico.test/webhooks/whatsapp", headers, body)
        first = await ingress.handle("whatsapp", request)
        redelivered = await ingress.handle("whatsapp", request)
        assert first.status == 200
        assert first.body["processed"] == 1  # type: ignore[index]
        assert redelivered.status == 200
        assert sent.message is not None
        assert await webhook_store.get(sent.message.message_id) is DeliveryStatus.FAILED
        assert await _pending(outbox) == 1

        relay = OutboxRelay(outbox, ports, clock=ticker, uniform=lambda a, b: (a + b) / 2)
        await relay.run(until_idle=True)
        kinds = [(m.type, m.payload.get("template", {}).get("name")) for m in sim.messages.values()]
        assert kinds == [("text", None), ("template", "payment_link")]
        await webhook_store.close()
    await outbox.close()
