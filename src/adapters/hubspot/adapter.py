"""
`HubSpotCRM`: the `CRMPort` over HubSpot's CRM v3 objects API, authenticated with a private-app
token or, for an OAuth app, with access tokens from a `TokenProvider` (renewed with the refresh
token; a 401 renews once and resends, in `VendorClient`).

Upsert matches by search (phone first, then email), then updates by id or creates. Search is
eventually consistent (a contact created a moment ago, e.g. by an attempt whose answer timed
out, may not be found yet), so the create must itself refuse a duplicate:

- with an email: HubSpot enforces unique emails on create; the 409 "Contact already exists.
  Existing ID: N" becomes an update of N. Safe to retry.
- phone only, with ``phone_id_property`` set: the create is ``POST /contacts/batch/upsert``
  keyed on that property (``idProperty``), which must be a custom contact property created in
  the portal with "unique values" on (e.g. ``portico_phone_e164``, single-line text). Every
  write stores the E.164 phone in it. Safe to retry.
- phone only, without it: HubSpot does not enforce phone uniqueness, so a retried create can
  make a second contact. `upsert_is_idempotent` says so, and the resilience layer must not
  retry such a call blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from ...domain.crm import Contact, ContactDraft, Deal, DealDraft, DealStage, LifecycleStage, Note
from ...domain.errors import Conflict, InvalidRequest, NotFound
from ...domain.json_reader import JsonNode
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.values import Email, PhoneNumber
from ...ports.crm import CRMPort
from ...ports.tokens import TokenProvider
from ..http.client import DEFAULT_TIMEOUT, VendorClient, build_client
from ..http.errors import response_errors, unexpected
from ..resilience import RateFeedback
from .codec import (
    CONTACT_CORE,
    DEAL_PROPERTIES,
    DEAL_TO_CONTACT,
    INTEGRATION,
    NOTE_TO_CONTACT,
    association,
    contact_properties,
    deal_properties,
    format_time,
    property_map,
    read_contact,
    read_deal,
    read_note,
)
from .errors import existing_contact_id, parse_hubspot_error, quota_left
from .stages import HubSpotStages


__all__ = ["BASE_URL", "OBJECTS_PATH", "HubSpotCRM"]

BASE_URL = "https://api.hubapi.com"
OBJECTS_PATH = "/crm/v3/objects"


def _object_id(value: str) -> str:
    """HubSpot object ids are decimal strings: anything else cannot exist (and stays off URLs)."""
    if not value.isascii() or not value.isdigit():
        raise NotFound(
            "no such object (ids are numeric)", integration=INTEGRATION, request_sent=False
        )
    return value


@attrs.define
class HubSpotCRM(CRMPort):
    """
    Contacts, deals and notes in HubSpot.

    Args:
        http: the client to send with; its ``base_url`` is HubSpot's (or a simulator's).
        token: the private app's access token; never printed. None with ``tokens``.
        tokens: an OAuth app's access tokens (instead of ``token``).
        objects_path: the API prefix (``/crm/v3/objects``; a date-versioned one also works).
        default_currency: the account's currency, for deals stored without ``deal_currency_code``.
        contact_properties: custom contact properties to read back besides the core ones; those
            this adapter writes are added as it writes them.
        clock: the time source; `Clock.now` stamps notes.
        phone_id_property: a unique-value custom contact property holding the E.164 phone, so
            a phone-only upsert is idempotent (see the module docstring); None: not set up.
        stages: how this portal spells the domain's lifecycle and deal stages (its pipeline's
            stage ids); HubSpot's defaults when not given.
        rate_feedback: the account's shared quota, told what each response's
            ``X-HubSpot-RateLimit-*`` headers leave (`quota_left`); None: headers not read.
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    token: str | None = attrs.field(repr=False)
    objects_path: str = OBJECTS_PATH
    default_currency: str = "EUR"
    contact_properties: tuple[str, ...] = ()
    clock: Clock = attrs.field(default=SYSTEM_CLOCK, repr=False)
    phone_id_property: str | None = None
    stages: HubSpotStages = attrs.field(factory=HubSpotStages)
    rate_feedback: RateFeedback | None = attrs.field(default=None, repr=False)
    tokens: TokenProvider | None = attrs.field(default=None, repr=False)
    _client: VendorClient = attrs.field(init=False, repr=False)
    _known: set[str] = attrs.field(factory=set, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.token is None) == (self.tokens is None):
            raise ValueError("give exactly one of token or tokens")
        observe = None if self.rate_feedback is None else self._observe_quota
        self._client = VendorClient(
            INTEGRATION, self.http, parse_hubspot_error, observe, tokens=self.tokens
        )
        self.objects_path = self.objects_path.rstrip("/")
        self._known.update(self.contact_properties)

    @classmethod
    def connect(
        cls,
        token: str | None,
        *,
        base_url: str = BASE_URL,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> HubSpotCRM:
        """Build the adapter with its own connection pool (close it with `aclose`)."""
        http = build_client(base_url, timeout=timeout, transport=transport)
        return cls(http=http, token=token, **options)

    async def aclose(self) -> None:
        """Close the connection pool (and the token provider's)."""
        await self.http.aclose()
        closer = getattr(self.tokens, "aclose", None)
        if closer is not None:
            await closer()

    async def _observe_quota(self, response: httpx.Response) -> None:
        left = quota_left(response.headers)
        if left is not None and self.rate_feedback is not None:
            await self.rate_feedback.slow(*left)

    async def _call(self, operation: str, method: str, path: str, **kwargs: Any) -> JsonNode:
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return await self._client.request(
            operation, method, f"{self.objects_path}{path}", headers=headers, **kwargs
        )

    def _wanted(self, extra: dict[str, str] | None = None) -> list[str]:
        return [*CONTACT_CORE, *sorted(self._known | set(extra or {}))]

    # ------------------------------------------------------------------ contacts

    async def get_contact(self, contact_id: str) -> Contact:
        """Read one contact with the core and known custom properties."""
        fields = await self._call(
            "get contact",
            "GET",
            f"/contacts/{_object_id(contact_id)}",
            params={"properties": ",".join(self._wanted())},
        )
        return read_contact(fields, self.stages, self._known)

    async def probe(self) -> None:
        """
        ``GET {objects_path}/contacts?limit=1``: a real list read with the token (scope
        ``crm.objects.contacts.read``, which the adapter needs anyway); unlike `get_contact`
        with a made-up id, nothing is answered locally.
        """
        await self._call("probe", "GET", "/contacts", params={"limit": "1", "archived": "false"})

    async def find_contact(
        self, *, phone: PhoneNumber | None = None, email: Email | None = None
    ) -> Contact | None:
        """Search by phone (stored in E.164 by this adapter) first, then by email."""
        if phone is None and email is None:
            raise InvalidRequest(
                "find contact: give a phone or an email",
                integration=INTEGRATION,
                request_sent=False,
            )
        found = await self._search("phone", phone.e164) if phone is not None else None
        if found is None and email is not None:
            found = await self._search("email", email.address)
        return read_contact(found, self.stages, self._known) if found is not None else None

    async def _search(
        self, prop: str, value: str, extra: dict[str, str] | None = None
    ) -> JsonNode | None:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}
            ],
            "properties": self._wanted(extra),
            "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
            "limit": 1,
        }
        fields = await self._call("search contacts", "POST", "/contacts/search", json=body)
        results = fields.items("results", required=False)
        return results[0] if results else None

    def upsert_is_idempotent(self, draft: ContactDraft) -> bool:
        """Whether a retried `upsert_contact` of ``draft`` can never create a second contact."""
        return draft.email is not None or self.phone_id_property is not None

    async def upsert_contact(self, draft: ContactDraft) -> Contact:
        """Update the contact with the draft's phone (else email), or create it."""
        props = contact_properties(draft, self.stages)
        if self.phone_id_property is not None and draft.phone is not None:
            props[self.phone_id_property] = draft.phone.e164
        by_phone = await self._search("phone", draft.phone.e164, props) if draft.phone else None
        by_email = await self._search("email", draft.email.address, props) if draft.email else None
        if (
            by_phone is not None
            and by_email is not None
            and by_phone.text("id") != by_email.text("id")
        ):
            raise Conflict(
                "upsert contact: the phone and the email belong to two different contacts",
                integration=INTEGRATION,
                request_sent=False,
            )
        existing = by_phone or by_email
        self._known.update(k for k in draft.properties if k not in CONTACT_CORE)
        if existing is not None:
            return await self._update(existing.text("id"), props, property_map(existing))
        if draft.email is None and self.phone_id_property is not None:
            return await self._upsert_by(self.phone_id_property, props)
        try:
            created = await self._call(
                "create contact", "POST", "/contacts", json={"properties": props}
            )
        except Conflict as err:
            contact_id = existing_contact_id(err.message)
            if contact_id is None:
                raise
            return await self._update(contact_id, props, {})
        return read_contact(created, self.stages, self._known)

    async def update_contact(
        self,
        contact_id: str,
        *,
        properties: Mapping[str, str] | None = None,
        lifecycle_stage: LifecycleStage | None = None,
    ) -> Contact:
        """PATCH the contact by id (no search: safe right after a create), then read it back."""
        contact_id = _object_id(contact_id)
        props = dict(properties or {})
        if lifecycle_stage is not None:
            props["lifecyclestage"] = self.stages.lifecycle_value(lifecycle_stage)
        self._known.update(k for k in props if k not in CONTACT_CORE)
        if props:
            await self._call(
                "update contact", "PATCH", f"/contacts/{contact_id}", json={"properties": props}
            )
        return await self.get_contact(contact_id)

    async def _upsert_by(self, id_property: str, props: dict[str, str]) -> Contact:
        """Create or update the one contact whose unique ``id_property`` has this value."""
        value = props.pop(id_property)
        body = {"inputs": [{"idProperty": id_property, "id": value, "properties": props}]}
        fields = await self._call("upsert contact", "POST", "/contacts/batch/upsert", json=body)
        results = fields.items("results")
        if len(results) != 1:
            raise unexpected(INTEGRATION, "upsert contact", "results is not one contact")
        return read_contact(results[0], self.stages, self._known)

    async def _update(self, contact_id: str, props: dict[str, str], before: Any) -> Contact:
        updated = await self._call(
            "update contact", "PATCH", f"/contacts/{contact_id}", json={"properties": props}
        )
        merged = {**before, **property_map(updated), **props}
        view = JsonNode(
            {"id": updated.text("id"), "properties": merged},
            error=response_errors(INTEGRATION, "update contact"),
        )
        return read_contact(view, self.stages, self._known)

    # ------------------------------------------------------------------ deals

    async def create_deal(self, draft: DealDraft) -> Deal:
        """Open a deal associated with the contact (type 3, deal to contact)."""
        contact_id = _object_id(draft.contact_id)
        await self._call("get contact", "GET", f"/contacts/{contact_id}")
        body = {
            "properties": deal_properties(draft, self.stages),
            "associations": association(contact_id, DEAL_TO_CONTACT),
        }
        fields = await self._call("create deal", "POST", "/deals", json=body)
        return read_deal(
            fields,
            self.stages,
            operation="create deal",
            default_currency=self.default_currency,
            contact_id=contact_id,
        )

    async def move_deal(self, deal_id: str, stage: DealStage) -> Deal:
        """Set ``dealstage`` to the portal's id of ``stage``, then read the deal back."""
        deal_id = _object_id(deal_id)
        props = {"dealstage": self.stages.deal_stage_id(stage)}
        await self._call("move deal", "PATCH", f"/deals/{deal_id}", json={"properties": props})
        fields = await self._call(
            "get deal",
            "GET",
            f"/deals/{deal_id}",
            params={"properties": ",".join(DEAL_PROPERTIES), "associations": "contacts"},
        )
        return read_deal(
            fields, self.stages, operation="get deal", default_currency=self.default_currency
        )

    # ------------------------------------------------------------------ notes

    async def add_note(self, contact_id: str, body: str) -> Note:
        """Add a note on the contact's timeline (type 202, note to contact)."""
        if not body.strip():
            raise InvalidRequest(
                "add note: the body is empty", integration=INTEGRATION, request_sent=False
            )
        contact_id = _object_id(contact_id)
        await self._call("get contact", "GET", f"/contacts/{contact_id}")
        payload = {
            "properties": {"hs_note_body": body, "hs_timestamp": format_time(self.clock.now())},
            "associations": association(contact_id, NOTE_TO_CONTACT),
        }
        fields = await self._call("create note", "POST", "/notes", json=payload)
        return read_note(fields, operation="create note", contact_id=contact_id)
