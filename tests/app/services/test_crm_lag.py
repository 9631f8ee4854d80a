"""Lead intake and CRM commands against HubSpot whose search lags behind its writes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.simulators.hubspot import HubSpotSimulator

from portico.adapters.fakes import FakeClock, FakeCRM, FakeMessaging, FakePayments, FakeVoice
from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.resilience import BreakerRegistry, ResilientCRM, build_pipeline
from portico.app.services._outreach import upsert_command
from portico.app.services.lead_intake import INTAKE_CRM_CALLS, OPEN_DEAL_PROPERTY, LeadIntake
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.wiring.leases import intake_lease
from portico.domain.commands import UpsertContact
from portico.domain.crm import ContactDraft
from portico.domain.errors import OutcomeUnknown
from portico.domain.values import PhoneNumber
from portico.ports.execute import CommandPorts


PATIENT = PhoneNumber("+40712345678")
TOKEN = "pat-na1-lag"


@pytest.fixture(name="hubspot")
def _hubspot() -> HubSpotSimulator:
    return HubSpotSimulator(token=TOKEN, search_lag=5)


@pytest.fixture(name="hub")
async def _hub(hubspot: HubSpotSimulator) -> AsyncIterator[HubSpotCRM]:
    transport = httpx.ASGITransport(app=hubspot)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com") as http:
        yield HubSpotCRM(http=http, token=TOKEN)


@pytest.fixture(name="hub_intake")
def _hub_intake(
    hub: HubSpotCRM,
    outbox: SqliteOutbox,
    wa: FakeMessaging,
    stripe: FakePayments,
    vapi: FakeVoice,
) -> LeadIntake:
    return LeadIntake(
        hub,
        OutboxDispatch(outbox, CommandPorts(messaging=wa, crm=hub, payments=stripe, voice=vapi)),
    )


async def test_a_new_patients_marker_lands_on_the_contact_just_created(
    hubspot: HubSpotSimulator, hub_intake: LeadIntake, wa: FakeMessaging
) -> None:
    """Search has not seen the new contact, yet the marker is on it: one contact, one deal."""
    lead = await hub_intake.intake(wa.receive(PATIENT, "Hi", name="Ana Pop").message)
    assert lead.opened
    assert lead.marker is not None
    assert lead.marker.sent
    (stored,) = hubspot.objects["contacts"].values()
    assert stored["properties"][OPEN_DEAL_PROPERTY] == lead.deal_id
    hubspot.index_search()  # seconds later, search has caught up
    again = await hub_intake.intake(wa.receive(PATIENT, "When can I come?").message)
    assert (again.deal_id, again.opened) == (lead.deal_id, False)
    assert len(hubspot.objects["contacts"]) == 1
    assert len(hubspot.objects["deals"]) == 1


async def test_a_stale_search_result_does_not_open_a_second_deal(
    hubspot: HubSpotSimulator, hub: HubSpotCRM, hub_intake: LeadIntake, wa: FakeMessaging
) -> None:
    """Search still shows the contact without its new marker; the read by id has it."""
    await hub.upsert_contact(ContactDraft(phone=PATIENT, first_name="Ana"))
    hubspot.index_search()  # a known patient, visible to search
    first = await hub_intake.intake(wa.receive(PATIENT, "Hi").message)
    found = await hub.find_contact(phone=PATIENT)
    assert found is not None
    assert OPEN_DEAL_PROPERTY not in found.properties
    second = await hub_intake.intake(wa.receive(PATIENT, "Hello?").message)
    assert (second.deal_id, second.opened) == (first.deal_id, False)
    assert len(hubspot.objects["deals"]) == 1


def _resilient(inner: HubSpotCRM | FakeCRM) -> ResilientCRM:
    clock = FakeClock()
    pipeline = build_pipeline(
        "hubspot",
        registry=BreakerRegistry(),
        clock=clock,
    )
    return ResilientCRM(inner, pipeline)


async def test_upsert_commands_are_redeliverable_only_where_the_crm_dedupes(
    hub: HubSpotCRM,
) -> None:
    """A phone-only upsert for HubSpot without a unique phone property is not resent."""
    phone_only, with_email = ContactDraft(phone=PATIENT), ContactDraft(email="ana@example.com")
    assert not upsert_command(hub, phone_only).redeliverable
    assert not upsert_command(_resilient(hub), phone_only).redeliverable
    assert upsert_command(hub, with_email).redeliverable
    keyed = HubSpotCRM(http=hub.http, token=TOKEN, phone_id_property="portico_phone_e164")
    assert upsert_command(keyed, phone_only).redeliverable
    assert upsert_command(FakeCRM(), phone_only).redeliverable
    assert upsert_command(_resilient(FakeCRM()), phone_only).redeliverable


@pytest.mark.parametrize("redeliverable", [True, False])
async def test_an_unknown_upsert_is_queued_only_when_redeliverable(
    crm: FakeCRM, outbox: SqliteOutbox, redeliverable: bool
) -> None:
    """The dispatcher reads the command's own flag: queue it, or raise rather than risk a copy."""
    dispatch = OutboxDispatch(outbox, CommandPorts(crm=crm))
    crm.faults.fail_next(1, OutcomeUnknown("timed out", integration="hubspot"))
    command = UpsertContact(ContactDraft(phone=PATIENT), redeliverable=redeliverable)
    if redeliverable:
        assert (await dispatch.submit(command)).queued
    else:
        with pytest.raises(OutcomeUnknown):
            await dispatch.submit(command)
        assert (await outbox.status()).pending == 0


def test_the_intake_lease_outlasts_its_crm_calls_at_their_worst() -> None:
    """The claim lease covers every intake CRM call retried to its deadline, plus a margin."""
    clock = FakeClock()
    pipeline = build_pipeline("hubspot", clock=clock)
    worst = pipeline.worst_case_seconds()
    assert worst is not None
    assert pipeline.retry is not None
    assert pipeline.timeout is not None
    assert worst >= (pipeline.retry.deadline or 0) + pipeline.timeout.seconds
    assert intake_lease(pipeline) > INTAKE_CRM_CALLS * worst
