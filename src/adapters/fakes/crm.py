"""
`FakeCRM`: an in-memory HubSpot that speaks the domain's vocabulary.

Like HubSpot, ids are numeric strings, a phone or an email belongs to at most one contact, deal
stages must exist in their pipeline, and an unknown id is a 404 (`NotFound`). Stages are the
domain's own (`LifecycleStage`, `DealStage`): there is no vendor spelling to map, so what the fake
stores is what the domain said.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar, TypeVar

import attrs

from ...domain.crm import Contact, ContactDraft, Deal, DealDraft, DealStage, LifecycleStage, Note
from ...domain.errors import Conflict, InvalidRequest, NotFound
from ...domain.events import ContactChanged
from ...domain.values import Email, PhoneNumber
from ...ports.crm import CRMPort
from ._support import FakeBase


__all__ = ["DEFAULT_PIPELINES", "FakeCRM"]

PROVIDER = "hubspot"

# One pipeline, as a new HubSpot portal has, offering every domain stage.
DEFAULT_PIPELINES: Mapping[str, Collection[DealStage]] = MappingProxyType(
    {"default": tuple(DealStage)}
)


def _not_found(what: str) -> NotFound:
    return NotFound(f"no such {what}", integration=PROVIDER, status_code=404)


@attrs.define(repr=False)
class FakeCRM(FakeBase, CRMPort):
    """
    HubSpot as a test double you can ship: contacts unique by phone and email, deals, notes.

    Args:
        pipelines: pipeline id -> the stages it offers; a deal outside them is refused.
        known_properties: custom contact properties HubSpot has defined; None accepts any
            but those refused with `refuse_property`.
    """

    INTEGRATION: ClassVar[str] = PROVIDER

    pipelines: Mapping[str, Collection[DealStage]] = attrs.field(
        default=DEFAULT_PIPELINES, kw_only=True
    )
    known_properties: Collection[str] | None = attrs.field(default=None, kw_only=True)
    contacts: dict[str, Contact] = attrs.field(factory=dict, init=False)
    deals: dict[str, Deal] = attrs.field(factory=dict, init=False)
    notes: dict[str, Note] = attrs.field(factory=dict, init=False)
    _refused: set[str] = attrs.field(factory=set, init=False)
    _numbers: Iterator[int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._numbers = itertools.count(int(self._ids.token(6, "123456789")) * 1000 + 1)

    async def upsert_contact(self, draft: ContactDraft) -> Contact:
        """Create or update the contact matching the draft's phone, then its email."""
        await self.faults.before("upsert_contact", draft)
        self._check_properties(draft.properties)
        by_phone = self._by_phone(draft.phone) if draft.phone else None
        by_email = self._by_email(draft.email) if draft.email else None
        if by_phone and by_email and by_phone.id != by_email.id:
            raise Conflict(
                "the phone and the email belong to two different contacts",
                integration=PROVIDER,
                vendor_code="CONFLICT",
                status_code=409,
            )
        existing = by_phone or by_email
        if existing is None:
            contact = Contact(
                id=self._new_id(),
                phone=draft.phone,
                email=draft.email,
                first_name=draft.first_name,
                last_name=draft.last_name,
                lifecycle_stage=draft.lifecycle_stage,
                properties=draft.properties,
            )
            change = "created"
        else:
            contact = attrs.evolve(
                existing,
                phone=draft.phone or existing.phone,
                email=draft.email or existing.email,
                first_name=_keep(draft.first_name, existing.first_name),
                last_name=_keep(draft.last_name, existing.last_name),
                lifecycle_stage=_keep(draft.lifecycle_stage, existing.lifecycle_stage),
                properties={**existing.properties, **draft.properties},
            )
            change = "property_changed"
        return self._store(contact, existing, change)

    async def update_contact(
        self,
        contact_id: str,
        *,
        properties: Mapping[str, str] | None = None,
        lifecycle_stage: LifecycleStage | None = None,
    ) -> Contact:
        """Merge ``properties`` and set the stage of the contact with this id."""
        await self.faults.before("update_contact", contact_id)
        existing = self.contacts.get(contact_id)
        if existing is None:
            raise _not_found("contact")
        self._check_properties(properties or {})
        contact = attrs.evolve(
            existing,
            lifecycle_stage=_keep(lifecycle_stage, existing.lifecycle_stage),
            properties={**existing.properties, **(properties or {})},
        )
        return self._store(contact, existing, "property_changed")

    def _store(self, contact: Contact, existing: Contact | None, change: str) -> Contact:
        """Keep ``contact`` and emit HubSpot's change event when it differs from ``existing``."""
        if contact != existing:
            self.contacts[contact.id] = contact
            self._emit(
                ContactChanged(
                    event_id=f"{PROVIDER}-{self._ids.token(12, '0123456789')}",
                    provider=PROVIDER,
                    occurred_at=self.clock.now(),
                    contact_id=contact.id,
                    change=change,
                    lifecycle_stage=contact.lifecycle_stage,
                )
            )
        return contact

    async def get_contact(self, contact_id: str) -> Contact:
        """The contact with this id."""
        await self.faults.before("get_contact", contact_id)
        try:
            return self.contacts[contact_id]
        except KeyError:
            raise _not_found("contact") from None

    async def find_contact(
        self, *, phone: PhoneNumber | None = None, email: Email | None = None
    ) -> Contact | None:
        """The contact with this phone, else this email, else None."""
        await self.faults.before("find_contact", phone, email)
        if phone is None and email is None:
            raise InvalidRequest("give a phone or an email to search by", integration=PROVIDER)
        return (self._by_phone(phone) if phone else None) or (
            self._by_email(email) if email else None
        )

    async def create_deal(self, draft: DealDraft) -> Deal:
        """Open a new deal for an existing contact, in a stage of its pipeline."""
        await self.faults.before("create_deal", draft)
        if draft.contact_id not in self.contacts:
            raise _not_found("contact")
        self._check_stage(draft.pipeline, draft.stage)
        deal = Deal(
            id=self._new_id(),
            contact_id=draft.contact_id,
            name=draft.name,
            stage=draft.stage,
            amount=draft.amount,
            pipeline=draft.pipeline,
        )
        self.deals[deal.id] = deal
        return deal

    async def move_deal(self, deal_id: str, stage: DealStage) -> Deal:
        """Move a deal to another stage of its pipeline."""
        await self.faults.before("move_deal", deal_id, stage)
        deal = self.deals.get(deal_id)
        if deal is None:
            raise _not_found("deal")
        self._check_stage(deal.pipeline, stage)
        deal = attrs.evolve(deal, stage=stage)
        self.deals[deal_id] = deal
        return deal

    async def add_note(self, contact_id: str, body: str) -> Note:
        """Add a timestamped note to a contact's timeline."""
        await self.faults.before("add_note", contact_id, body)
        if contact_id not in self.contacts:
            raise _not_found("contact")
        if not body.strip():
            raise InvalidRequest("a note body must not be empty", integration=PROVIDER)
        note = Note(
            id=self._new_id(), contact_id=contact_id, body=body, created_at=self.clock.now()
        )
        self.notes[note.id] = note
        return note

    # ---------------------------------------------------------------- inspection

    def notes_of(self, contact_id: str) -> list[Note]:
        """A contact's notes, oldest first."""
        return [n for n in self.notes.values() if n.contact_id == contact_id]

    def deals_of(self, contact_id: str) -> list[Deal]:
        """A contact's deals, oldest first."""
        return [d for d in self.deals.values() if d.contact_id == contact_id]

    def _counts(self) -> dict[str, int]:
        return {
            "contacts": len(self.contacts),
            "deals": len(self.deals),
            "notes": len(self.notes),
            **super()._counts(),
        }

    def reset(self) -> None:
        """Forget contacts, deals, notes, refused properties, faults and events."""
        super().reset()
        self.contacts.clear()
        self.deals.clear()
        self.notes.clear()
        self._refused.clear()

    def refuse_property(self, name: str) -> None:
        """The portal has no contact property ``name`` (deleted): writing it is refused."""
        self._refused.add(name)

    def _new_id(self) -> str:
        return str(next(self._numbers))

    def _by_phone(self, phone: PhoneNumber) -> Contact | None:
        return next((c for c in self.contacts.values() if c.phone == phone), None)

    def _by_email(self, email: Email) -> Contact | None:
        wanted = email.address.lower()  # HubSpot matches emails case-insensitively
        return next(
            (c for c in self.contacts.values() if c.email and c.email.address.lower() == wanted),
            None,
        )

    def _check_stage(self, pipeline: str, stage: DealStage) -> None:
        stages = self.pipelines.get(pipeline)
        if stages is None:
            raise InvalidRequest("unknown pipeline", integration=PROVIDER, status_code=400)
        if stage not in stages:
            raise InvalidRequest(
                "the stage is not in the deal's pipeline", integration=PROVIDER, status_code=400
            )

    def _check_properties(self, properties: Mapping[str, str]) -> None:
        known = self.known_properties
        unknown = sorted(
            name
            for name in properties
            if name in self._refused or (known is not None and name not in known)
        )
        if unknown:
            raise InvalidRequest(
                f"property {unknown[0]!r} does not exist",
                integration=PROVIDER,
                vendor_code="PROPERTY_DOESNT_EXIST",
                status_code=400,
            )


T = TypeVar("T")


def _keep(new: T | None, old: T | None) -> T | None:
    return old if new is None else new
