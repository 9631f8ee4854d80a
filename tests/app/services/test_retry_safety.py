"""Retry-safe payment requests: one checkout link and one link message, however often asked."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeClock, FakeCRM, FakeMessaging, FakePayments
from portico.adapters.stores.memory import MemoryReplayStore
from portico.app.services.lead_intake import LeadIntake
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.payment_collection import LinkStatus, PaymentCollection
from portico.domain.errors import InvalidValue, OutcomeUnknown, Unavailable
from portico.domain.replay import Claim
from portico.domain.values import Money, PhoneNumber


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


@pytest.fixture(name="collection")
def _collection(
    stripe: FakePayments, crm: FakeCRM, dispatch: OutboxDispatch, clock: FakeClock
) -> PaymentCollection:
    return PaymentCollection(stripe, crm, dispatch, claims=MemoryReplayStore(), clock=clock)


async def _lead(wa: FakeMessaging, crm: FakeCRM, dispatch: OutboxDispatch) -> tuple[str, str]:
    lead = await LeadIntake(crm, dispatch).intake(wa.receive(PATIENT, "Hi").message)
    return lead.contact.id, lead.deal_id


@pytest.mark.parametrize("gap", [0.0, 1.0, 59 * 60.0])
async def test_asking_twice_sends_one_link_once(
    wa: FakeMessaging,
    crm: FakeCRM,
    dispatch: OutboxDispatch,
    collection: PaymentCollection,
    clock: FakeClock,
    gap: float,
) -> None:
    """A retry in the same second, a second later or within the hour: same link, one message."""
    contact_id, deal_id = await _lead(wa, crm, dispatch)
    now = clock.now()
    into_hour = now - now.replace(minute=0, second=0, microsecond=0)
    clock.advance(3600 - into_hour.total_seconds())  # the next window's start
    first = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    clock.advance(gap)
    second = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    assert first.status is LinkStatus.SENT
    assert second.status is LinkStatus.ALREADY_ACCEPTED
    assert second.link == first.link
    assert second.delivery is None
    assert second.message is None
    assert len(wa.sent_to(PATIENT)) == 1


async def test_a_later_window_makes_a_fresh_link(
    wa: FakeMessaging,
    crm: FakeCRM,
    dispatch: OutboxDispatch,
    collection: PaymentCollection,
    clock: FakeClock,
) -> None:
    """Asked again hours later: a new checkout (never Stripe's idempotency conflict), sent once."""
    contact_id, deal_id = await _lead(wa, crm, dispatch)
    first = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    clock.advance(3 * 3600)
    later = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    assert later.link.id != first.link.id
    assert later.status is LinkStatus.SENT
    assert later.link.expires_at > first.link.expires_at
    assert len(wa.sent_to(PATIENT)) == 2


async def test_a_queued_link_message_is_not_sent_again_by_a_retry(
    wa: FakeMessaging,
    crm: FakeCRM,
    dispatch: OutboxDispatch,
    collection: PaymentCollection,
    relay: OutboxRelay,
) -> None:
    """WhatsApp down: the message is queued; the caller's retry sends nothing; the relay, one."""
    contact_id, deal_id = await _lead(wa, crm, dispatch)
    down = Unavailable("down", integration="whatsapp", request_sent=False)
    wa.faults.fail_next(1, down, operation="send")
    first = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    again = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    assert first.queued
    assert first.status is LinkStatus.QUEUED
    assert again.status is LinkStatus.ALREADY_ACCEPTED
    assert wa.sent_to(PATIENT) == []
    await relay.run(until_idle=True)
    assert len(wa.sent_to(PATIENT)) == 1


async def test_an_unknown_send_is_answered_not_raised_and_never_repeated(
    wa: FakeMessaging,
    crm: FakeCRM,
    dispatch: OutboxDispatch,
    collection: PaymentCollection,
    relay: OutboxRelay,
) -> None:
    """The link message times out after sending: UNKNOWN is returned, and no retry resends it."""
    contact_id, deal_id = await _lead(wa, crm, dispatch)
    wa.faults.fail_next(1, OutcomeUnknown("timed out", integration="whatsapp"), operation="send")
    first = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    again = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    await relay.run(until_idle=True)
    assert first.status is LinkStatus.UNKNOWN
    assert not first.queued
    assert again.status is LinkStatus.ALREADY_ACCEPTED
    assert again.link == first.link
    assert len(wa.faults.calls_to("send")) == 1


async def test_a_refused_message_releases_the_link_for_a_retry(
    wa: FakeMessaging,
    crm: FakeCRM,
    dispatch: OutboxDispatch,
    collection: PaymentCollection,
) -> None:
    """A failure before anything went out is raised, and the next call sends the link."""
    contact_id, deal_id = await _lead(wa, crm, dispatch)
    wa.faults.fail_next(1, RuntimeError("bug in a hook"), operation="send")
    with pytest.raises(RuntimeError):
        await collection.request_payment(
            contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
        )
    retried = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    assert retried.status is LinkStatus.SENT
    assert len(wa.sent_to(PATIENT)) == 1


async def test_a_link_message_being_sent_elsewhere_is_not_sent_twice(
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    dispatch: OutboxDispatch,
    clock: FakeClock,
) -> None:
    """Another worker holds the link message's claim: this call answers IN_PROGRESS, sends none."""
    contact_id, deal_id = await _lead(wa, crm, dispatch)
    claims = MemoryReplayStore()
    collection = PaymentCollection(stripe, crm, dispatch, claims=claims, clock=clock)
    original = claims.claim

    async def held_elsewhere(key: str, *, lease_seconds: float) -> Claim:
        await original(key, lease_seconds=lease_seconds)  # the other worker's claim
        return await original(key, lease_seconds=lease_seconds)

    claims.claim = held_elsewhere  # type: ignore[method-assign]
    sent = await collection.request_payment(
        contact_id=contact_id, deal_id=deal_id, amount=FEE, description="consultation"
    )
    assert sent.status is LinkStatus.IN_PROGRESS
    assert wa.sent_to(PATIENT) == []


def test_a_window_the_link_cannot_outlive_is_refused(
    stripe: FakePayments, crm: FakeCRM, dispatch: OutboxDispatch
) -> None:
    """A checkout window longer than 12 hours is refused, naming the field."""
    with pytest.raises(InvalidValue) as info:
        PaymentCollection(stripe, crm, dispatch, link_window=86400)
    assert info.value.field == "link_window"
