"""The `CRMPort` contract, sentence by sentence, for every registered implementation."""

from __future__ import annotations

from typing import Any, Protocol

import pytest

from portico.domain.crm import ContactDraft, DealDraft, DealStage, LifecycleStage
from portico.domain.errors import Conflict, InvalidRequest, NotFound
from portico.domain.values import Email, Money, PhoneNumber
from portico.ports.crm import CRMPort
from tests.contract.harness import CRMControls, Harness


PHONE = PhoneNumber("+40712345678")
OTHER_PHONE = PhoneNumber("+40745987654")
EMAIL = Email("ana@example.com")
OTHER_EMAIL = Email("bogdan@example.com")
UNKNOWN_ID = "999999999999"
OPEN, WON = DealStage.OPEN, DealStage.WON


def _port(harness: Harness[Any]) -> CRMPort:
    port: CRMPort = harness.port
    return port


class _SearchIndex(Protocol):
    """The CRM control every implementation's harness offers (a no-op where search is instant)."""

    async def index_search(self) -> None:
        """Let search see every write made so far."""


async def _index(harness: Harness[Any]) -> None:
    """Let the CRM's search catch up with the writes so far (HubSpot's index lags by seconds)."""
    controls: _SearchIndex = harness.controls
    await controls.index_search()


async def _contact_id(crm: CRMPort) -> str:
    return (await crm.upsert_contact(ContactDraft(phone=PHONE, first_name="Ana"))).id


async def test_upsert_creates_a_contact_with_an_id(crm: Harness[Any]) -> None:
    """A new person is stored and returned with the CRM's id and the draft's fields."""
    draft = ContactDraft(
        phone=PHONE,
        email=EMAIL,
        first_name="Ana",
        last_name="Pop",
        lifecycle_stage=LifecycleStage.LEAD,
        properties={"city": "Cluj"},
    )
    contact = await _port(crm).upsert_contact(draft)
    assert contact.id
    assert (contact.phone, contact.email) == (PHONE, EMAIL)
    assert (contact.first_name, contact.last_name) == ("Ana", "Pop")
    assert contact.lifecycle_stage is LifecycleStage.LEAD
    assert contact.properties["city"] == "Cluj"


async def test_upsert_with_a_property_the_crm_refuses_is_invalid(crm: Harness[Any]) -> None:
    """A draft writing a property the CRM does not have raises InvalidRequest; nothing is kept."""
    controls: CRMControls = crm.controls
    await controls.refuse_property("favourite_clinic")
    draft = ContactDraft(phone=PHONE, properties={"favourite_clinic": "Cluj"})
    with pytest.raises(InvalidRequest):
        await _port(crm).upsert_contact(draft)
    await _index(crm)
    assert await _port(crm).find_contact(phone=PHONE) is None


async def test_upsert_is_idempotent(crm: Harness[Any]) -> None:
    """Upserting the same draft twice leaves one contact and returns the same id."""
    draft = ContactDraft(phone=PHONE, email=EMAIL, first_name="Ana")
    first = await _port(crm).upsert_contact(draft)
    await _index(crm)
    second = await _port(crm).upsert_contact(draft)
    assert first.id == second.id
    await _index(crm)
    assert (await _port(crm).find_contact(phone=PHONE)) == second
    assert (await _port(crm).find_contact(email=EMAIL)) == second


async def test_upsert_matches_by_phone_and_keeps_what_the_draft_leaves_out(
    crm: Harness[Any],
) -> None:
    """A draft with a known phone updates that contact; fields left None are kept."""
    first = await _port(crm).upsert_contact(ContactDraft(phone=PHONE, first_name="Ana"))
    await _index(crm)
    second = await _port(crm).upsert_contact(ContactDraft(phone=PHONE, email=EMAIL))
    assert second.id == first.id
    assert second.email == EMAIL
    assert second.first_name == "Ana"


async def test_upsert_matches_by_email_when_the_phone_is_unknown(crm: Harness[Any]) -> None:
    """A draft with an unknown phone but a known email updates the email's contact."""
    first = await _port(crm).upsert_contact(ContactDraft(email=EMAIL, last_name="Pop"))
    await _index(crm)
    second = await _port(crm).upsert_contact(ContactDraft(phone=PHONE, email=EMAIL))
    assert second.id == first.id
    assert second.phone == PHONE
    assert second.last_name == "Pop"


async def test_upsert_merges_properties(crm: Harness[Any]) -> None:
    """The draft's properties are merged over the stored ones."""
    await _port(crm).upsert_contact(
        ContactDraft(phone=PHONE, properties={"city": "Cluj", "company": "Acme"})
    )
    await _index(crm)
    contact = await _port(crm).upsert_contact(
        ContactDraft(phone=PHONE, properties={"city": "Iasi"})
    )
    assert contact.properties["city"] == "Iasi"
    assert contact.properties["company"] == "Acme"


async def test_upsert_with_phone_and_email_of_two_contacts_is_a_conflict(
    crm: Harness[Any],
) -> None:
    """A phone of one contact and an email of another raise Conflict."""
    await _port(crm).upsert_contact(ContactDraft(phone=PHONE))
    await _port(crm).upsert_contact(ContactDraft(phone=OTHER_PHONE, email=OTHER_EMAIL))
    await _index(crm)
    with pytest.raises(Conflict):
        await _port(crm).upsert_contact(ContactDraft(phone=PHONE, email=OTHER_EMAIL))


async def test_update_contact_merges_properties_and_sets_the_stage(crm: Harness[Any]) -> None:
    """update_contact merges properties over the stored ones, sets the stage, keeps the rest."""
    first = await _port(crm).upsert_contact(
        ContactDraft(phone=PHONE, first_name="Ana", properties={"city": "Cluj", "company": "Acme"})
    )
    updated = await _port(crm).update_contact(
        first.id, properties={"city": "Iasi"}, lifecycle_stage=LifecycleStage.CUSTOMER
    )
    assert updated.id == first.id
    assert updated.phone == PHONE
    assert updated.first_name == "Ana"
    assert updated.lifecycle_stage is LifecycleStage.CUSTOMER
    assert updated.properties["city"] == "Iasi"
    assert updated.properties["company"] == "Acme"
    assert await _port(crm).get_contact(first.id) == updated


async def test_update_contact_is_idempotent(crm: Harness[Any]) -> None:
    """The same update twice leaves the contact as one update does."""
    contact_id = await _contact_id(_port(crm))
    once = await _port(crm).update_contact(contact_id, properties={"deal": "7"})
    twice = await _port(crm).update_contact(contact_id, properties={"deal": "7"})
    assert once == twice
    assert await _port(crm).get_contact(contact_id) == twice


async def test_update_contact_right_after_create_reaches_that_contact(crm: Harness[Any]) -> None:
    """A write by id needs no search: it lands on the new contact, and no second one appears."""
    created = await _port(crm).upsert_contact(ContactDraft(phone=PHONE))
    updated = await _port(crm).update_contact(created.id, properties={"deal": "7"})
    assert updated.id == created.id
    await _index(crm)
    found = await _port(crm).find_contact(phone=PHONE)
    assert found is not None
    assert found.id == created.id
    assert found.properties["deal"] == "7"


async def test_update_unknown_contact_raises_not_found(crm: Harness[Any]) -> None:
    """An id the CRM never issued raises NotFound, and nothing is created."""
    with pytest.raises(NotFound):
        await _port(crm).update_contact(UNKNOWN_ID, lifecycle_stage=LifecycleStage.LEAD)


async def test_update_contact_with_a_property_the_crm_refuses_is_invalid(
    crm: Harness[Any],
) -> None:
    """A property the CRM does not have raises InvalidRequest and changes nothing."""
    contact_id = await _contact_id(_port(crm))
    before = await _port(crm).get_contact(contact_id)
    controls: CRMControls = crm.controls
    await controls.refuse_property("favourite_clinic")
    with pytest.raises(InvalidRequest):
        await _port(crm).update_contact(contact_id, properties={"favourite_clinic": "Cluj"})
    assert await _port(crm).get_contact(contact_id) == before


async def test_get_contact_returns_it_and_is_idempotent(crm: Harness[Any]) -> None:
    """A stored contact is read back by id, the same each time."""
    contact_id = await _contact_id(_port(crm))
    first = await _port(crm).get_contact(contact_id)
    assert first.id == contact_id
    assert first.phone == PHONE
    assert await _port(crm).get_contact(contact_id) == first


async def test_get_unknown_contact_raises_not_found(crm: Harness[Any]) -> None:
    """An id the CRM never issued raises NotFound."""
    with pytest.raises(NotFound):
        await _port(crm).get_contact(UNKNOWN_ID)


async def test_find_contact_by_phone_or_email_or_none(crm: Harness[Any]) -> None:
    """find_contact finds by phone, by email, and returns None when nobody matches."""
    contact = await _port(crm).upsert_contact(ContactDraft(phone=PHONE, email=EMAIL))
    await _index(crm)
    assert (await _port(crm).find_contact(phone=PHONE)) == contact
    assert (await _port(crm).find_contact(email=EMAIL)) == contact
    assert await _port(crm).find_contact(phone=OTHER_PHONE) is None
    assert await _port(crm).find_contact(email=OTHER_EMAIL) is None


async def test_find_contact_tries_the_phone_first(crm: Harness[Any]) -> None:
    """With a phone of one contact and an email of another, the phone's contact is returned."""
    by_phone = await _port(crm).upsert_contact(ContactDraft(phone=PHONE))
    await _port(crm).upsert_contact(ContactDraft(email=OTHER_EMAIL))
    await _index(crm)
    assert (await _port(crm).find_contact(phone=PHONE, email=OTHER_EMAIL)) == by_phone


async def test_find_contact_without_phone_or_email_is_invalid(crm: Harness[Any]) -> None:
    """find_contact with neither a phone nor an email raises InvalidRequest."""
    with pytest.raises(InvalidRequest):
        await _port(crm).find_contact()


async def test_create_deal_opens_a_deal_for_the_contact(crm: Harness[Any]) -> None:
    """A deal is opened with the draft's contact, name, stage, amount and pipeline."""
    contact_id = await _contact_id(_port(crm))
    amount = Money.of("150.00", "RON")
    deal = await _port(crm).create_deal(DealDraft(contact_id, "Consultation", OPEN, amount))
    assert deal.id
    assert (deal.contact_id, deal.name, deal.stage) == (contact_id, "Consultation", OPEN)
    assert deal.amount == amount
    assert deal.pipeline == "default"


async def test_create_deal_is_not_idempotent(crm: Harness[Any]) -> None:
    """Each create_deal opens a new deal."""
    contact_id = await _contact_id(_port(crm))
    draft = DealDraft(contact_id, "Consultation", OPEN)
    assert (await _port(crm).create_deal(draft)).id != (await _port(crm).create_deal(draft)).id


async def test_create_deal_for_unknown_contact_raises_not_found(crm: Harness[Any]) -> None:
    """A deal for a contact the CRM does not have raises NotFound."""
    with pytest.raises(NotFound):
        await _port(crm).create_deal(DealDraft(UNKNOWN_ID, "Consultation", OPEN))


async def test_create_deal_in_a_stage_the_pipeline_lacks_is_invalid(crm: Harness[Any]) -> None:
    """A stage the pipeline does not have (any more) raises InvalidRequest."""
    contact_id = await _contact_id(_port(crm))
    controls: CRMControls = crm.controls
    await controls.remove_stage(OPEN)
    with pytest.raises(InvalidRequest):
        await _port(crm).create_deal(DealDraft(contact_id, "Consultation", OPEN))


async def test_create_deal_in_an_unknown_pipeline_is_invalid(crm: Harness[Any]) -> None:
    """A pipeline the CRM does not have raises InvalidRequest."""
    contact_id = await _contact_id(_port(crm))
    with pytest.raises(InvalidRequest):
        await _port(crm).create_deal(DealDraft(contact_id, "C", OPEN, pipeline="no-such-42"))


@pytest.mark.parametrize("stage", list(DealStage))
async def test_every_deal_stage_reads_back_as_itself(crm: Harness[Any], stage: DealStage) -> None:
    """Each of the domain's deal stages is stored and read back unchanged (mapped both ways)."""
    contact_id = await _contact_id(_port(crm))
    deal = await _port(crm).create_deal(DealDraft(contact_id, "Consultation", OPEN))
    assert (await _port(crm).move_deal(deal.id, stage)).stage is stage


@pytest.mark.parametrize("stage", list(LifecycleStage))
async def test_every_lifecycle_stage_reads_back_as_itself(
    crm: Harness[Any], stage: LifecycleStage
) -> None:
    """Each of the domain's lifecycle stages is stored and read back unchanged."""
    contact_id = await _contact_id(_port(crm))
    await _port(crm).update_contact(contact_id, lifecycle_stage=stage)
    assert (await _port(crm).get_contact(contact_id)).lifecycle_stage is stage


async def test_move_deal_changes_its_stage_idempotently(crm: Harness[Any]) -> None:
    """A deal moves to the stage; moving it there again changes nothing."""
    contact_id = await _contact_id(_port(crm))
    deal = await _port(crm).create_deal(DealDraft(contact_id, "Consultation", OPEN))
    moved = await _port(crm).move_deal(deal.id, WON)
    assert (moved.id, moved.stage) == (deal.id, WON)
    again = await _port(crm).move_deal(deal.id, WON)
    assert (again.id, again.stage, again.contact_id) == (deal.id, WON, moved.contact_id)


async def test_move_unknown_deal_raises_not_found(crm: Harness[Any]) -> None:
    """Moving a deal the CRM does not have raises NotFound."""
    with pytest.raises(NotFound):
        await _port(crm).move_deal(UNKNOWN_ID, WON)


async def test_move_deal_to_a_stage_the_pipeline_lacks_is_invalid(crm: Harness[Any]) -> None:
    """Moving a deal to a stage its pipeline does not have (any more) raises InvalidRequest."""
    contact_id = await _contact_id(_port(crm))
    deal = await _port(crm).create_deal(DealDraft(contact_id, "Consultation", OPEN))
    controls: CRMControls = crm.controls
    await controls.remove_stage(WON)
    with pytest.raises(InvalidRequest):
        await _port(crm).move_deal(deal.id, WON)


async def test_add_note_adds_a_new_note_each_time(crm: Harness[Any]) -> None:
    """A note lands on the contact's timeline; a second call adds a second note."""
    contact_id = await _contact_id(_port(crm))
    first = await _port(crm).add_note(contact_id, "Called back; booked for Monday.")
    second = await _port(crm).add_note(contact_id, "Called back; booked for Monday.")
    assert first.contact_id == contact_id
    assert first.body == "Called back; booked for Monday."
    assert first.id != second.id


async def test_add_note_to_unknown_contact_raises_not_found(crm: Harness[Any]) -> None:
    """A note for a contact the CRM does not have raises NotFound."""
    with pytest.raises(NotFound):
        await _port(crm).add_note(UNKNOWN_ID, "Hello")


async def test_add_empty_note_is_invalid(crm: Harness[Any]) -> None:
    """An empty (or blank) note body raises InvalidRequest."""
    contact_id = await _contact_id(_port(crm))
    with pytest.raises(InvalidRequest):
        await _port(crm).add_note(contact_id, "  ")


async def test_probe_answers_and_changes_nothing(crm: Harness[Any]) -> None:
    """The health read answers, again and again, and a stored contact is left as it was."""
    port = _port(crm)
    contact_id = await _contact_id(port)
    before = await port.get_contact(contact_id)
    await port.probe()
    await port.probe()
    assert await port.get_contact(contact_id) == before
