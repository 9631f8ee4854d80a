"""The port to a CRM (HubSpot)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from ..domain.crm import Contact, ContactDraft, Deal, DealDraft, DealStage, LifecycleStage, Note
from ..domain.values import Email, PhoneNumber
from .probe import Probed


__all__ = ["CRMPort", "UpsertIdempotency", "upsert_is_idempotent"]


@runtime_checkable
class CRMPort(Probed, Protocol):
    """Keep leads and patients in the CRM: contacts, deals, notes."""

    async def upsert_contact(self, draft: ContactDraft) -> Contact:
        """
        Create the contact, or update the one that already has the draft's phone or email.

        Matching is by phone first, then by email. Fields the draft leaves as None are kept; the
        draft's properties are merged over the stored ones.

        Returns:
            The stored contact, with its CRM id.

        Raises:
            InvalidRequest: the CRM refused a property.
            Conflict: the phone and the email belong to two different contacts.

        Idempotent: upserting the same draft twice leaves one contact and returns the same id.
        """
        ...

    async def update_contact(
        self,
        contact_id: str,
        *,
        properties: Mapping[str, str] | None = None,
        lifecycle_stage: LifecycleStage | None = None,
    ) -> Contact:
        """
        Set properties (merged over the stored ones) and the lifecycle stage of one contact, by id.

        Unlike `upsert_contact` nothing is matched: the write goes to this very contact, so it
        is safe right after the contact was created (a CRM whose search lags behind its writes
        would not find it yet) and can never create a second contact. Arguments left None are
        kept.

        Returns:
            The stored contact after the update.

        Raises:
            NotFound: no such contact.
            InvalidRequest: the CRM refused a property.

        Idempotent: the same update twice leaves the contact as one update does.
        """
        ...

    async def get_contact(self, contact_id: str) -> Contact:
        """
        The contact with this id.

        Raises:
            NotFound: no such contact.

        Idempotent (a read).
        """
        ...

    async def find_contact(
        self, *, phone: PhoneNumber | None = None, email: Email | None = None
    ) -> Contact | None:
        """
        The contact with this phone or this email (phone is tried first), or None.

        Raises:
            InvalidRequest: neither phone nor email was given.

        Idempotent (a read).
        """
        ...

    async def create_deal(self, draft: DealDraft) -> Deal:
        """
        Open a deal associated with the draft's contact.

        Raises:
            NotFound: the contact does not exist.
            InvalidRequest: the CRM refused the stage or pipeline (the pipeline lacks the stage's
                mapping, say).

        Not idempotent: each call opens a new deal.
        """
        ...

    async def move_deal(self, deal_id: str, stage: DealStage) -> Deal:
        """
        Move a deal to ``stage``.

        Raises:
            NotFound: no such deal.
            InvalidRequest: the CRM refused the stage (its pipeline has no such stage).

        Idempotent: moving to the stage the deal is in changes nothing.
        """
        ...

    async def add_note(self, contact_id: str, body: str) -> Note:
        """
        Add a note to a contact's timeline.

        Raises:
            NotFound: the contact does not exist.
            InvalidRequest: the body is empty.

        Not idempotent: each call adds a note.
        """
        ...


@runtime_checkable
class UpsertIdempotency(Protocol):
    """
    Optional, for a CRM that can dedupe only some upserts (HubSpot without a unique phone
    property does not dedupe a phone-only create).

    A CRM without this method keeps `CRMPort.upsert_contact`'s promise for every draft.
    """

    def upsert_is_idempotent(self, draft: ContactDraft) -> bool:
        """Whether upserting ``draft`` again (after an unknown outcome) can never add a contact."""
        ...


def upsert_is_idempotent(crm: object, draft: ContactDraft) -> bool:
    """What ``crm`` says of ``draft`` (`UpsertIdempotency`), else the port's promise: True."""
    return crm.upsert_is_idempotent(draft) if isinstance(crm, UpsertIdempotency) else True
