"""
HubSpot CRM objects <-> domain values.

Follows the CRM v3 objects API (``/crm/v3/objects/{contacts,deals,notes}``), the long-standing
paths; HubSpot's date-versioned paths take the same bodies, so only the prefix changes.
Contacts use HubSpot's default properties: ``phone``, ``email``, ``firstname``, ``lastname``,
``lifecyclestage``; deals ``dealname``, ``dealstage``, ``pipeline``, ``amount`` (a decimal
string in major units) and ``deal_currency_code``; notes ``hs_note_body`` and ``hs_timestamp``.
Stages go through the portal's `HubSpotStages`: the domain's names in, HubSpot's values out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...domain.crm import Contact, ContactDraft, Deal, DealDraft, Note
from ...domain.errors import InvalidValue
from ...domain.json_reader import JsonNode
from ...domain.values import Email, Money, PhoneNumber
from ..http.errors import unexpected
from .stages import HubSpotStages


__all__ = [
    "CONTACT_CORE",
    "DEAL_PROPERTIES",
    "DEAL_TO_CONTACT",
    "NOTE_TO_CONTACT",
    "association",
    "contact_properties",
    "deal_properties",
    "read_contact",
    "read_deal",
    "read_note",
]

INTEGRATION = "hubspot"
CONTACT_CORE = ("phone", "email", "firstname", "lastname", "lifecyclestage")
DEAL_PROPERTIES = ("dealname", "dealstage", "pipeline", "amount", "deal_currency_code")
DEAL_TO_CONTACT = 3  # HUBSPOT_DEFINED association type ids
NOTE_TO_CONTACT = 202


def association(contact_id: str, type_id: int) -> list[dict[str, Any]]:
    """The ``associations`` list that links a new object to one contact."""
    return [
        {
            "to": {"id": contact_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
        }
    ]


def contact_properties(draft: ContactDraft, stages: HubSpotStages) -> dict[str, str]:
    """The properties a draft sets; fields left as None are not sent, so they are kept."""
    props = dict(draft.properties)
    if draft.phone is not None:
        props["phone"] = draft.phone.e164
    if draft.email is not None:
        props["email"] = draft.email.address
    if draft.first_name is not None:
        props["firstname"] = draft.first_name
    if draft.last_name is not None:
        props["lastname"] = draft.last_name
    if draft.lifecycle_stage is not None:
        props["lifecyclestage"] = stages.lifecycle_value(draft.lifecycle_stage)
    return props


def deal_properties(draft: DealDraft, stages: HubSpotStages) -> dict[str, str]:
    """The properties of a new deal."""
    props = {
        "dealname": draft.name,
        "dealstage": stages.deal_stage_id(draft.stage),
        "pipeline": draft.pipeline,
    }
    if draft.amount is not None:
        props["amount"] = str(draft.amount.to_decimal())
        props["deal_currency_code"] = draft.amount.currency
    return props


def _lenient(parse: Any, raw: str | None) -> Any:
    """A stored phone or email HubSpot accepted but we cannot parse reads as None, not a crash."""
    if raw is None or not raw.strip():
        return None
    try:
        return parse(raw)
    except InvalidValue:
        return None


def read_contact(fields: JsonNode, stages: HubSpotStages, extra: Iterable[str] = ()) -> Contact:
    """
    A contact object; ``extra`` names the non-core properties to keep in ``properties``.

    A ``lifecyclestage`` with no mapping (a custom stage) reads as `LifecycleStage.OTHER`.
    """
    props = fields.child("properties")
    stage_raw = props.opt_text("lifecyclestage")
    stage = stages.lifecycle_stage(stage_raw) if stage_raw else None
    values = fields.text_map("properties", lenient=True)
    return Contact(
        id=fields.text("id"),
        phone=_lenient(PhoneNumber, props.opt_text("phone")),
        email=_lenient(Email, props.opt_text("email")),
        first_name=props.opt_text("firstname") or None,
        last_name=props.opt_text("lastname") or None,
        lifecycle_stage=stage,
        properties={k: values[k] for k in extra if k not in CONTACT_CORE and k in values},
    )


def read_deal(
    fields: JsonNode,
    stages: HubSpotStages,
    *,
    operation: str,
    default_currency: str,
    contact_id: str | None = None,
) -> Deal:
    """
    A deal object; the contact comes from ``associations.contacts`` unless given.

    A ``dealstage`` with no mapping (a stage of the pipeline between open and won) reads as
    `DealStage.OPEN`.
    """
    props = fields.child("properties")
    if contact_id is None:
        contact_id = _first_associated(fields, "contacts")
    amount_raw = props.opt_text("amount")
    amount = None
    if amount_raw:
        currency = props.opt_text("deal_currency_code") or default_currency
        try:
            amount = Money.of(amount_raw, currency)
        except InvalidValue as err:
            raise unexpected(INTEGRATION, operation, f"properties.amount: {err.rule}") from None
    return Deal(
        id=fields.text("id"),
        contact_id=contact_id or "",
        name=props.opt_text("dealname") or "",
        stage=stages.deal_stage(props.text("dealstage")),
        amount=amount,
        pipeline=props.opt_text("pipeline") or "default",
    )


def read_note(fields: JsonNode, *, operation: str, contact_id: str) -> Note:
    """A note object; ``hs_timestamp`` (or ``createdAt``) is when it happened."""
    props = fields.child("properties")
    stamp = props.opt_text("hs_timestamp") or fields.opt_text("createdAt")
    return Note(
        id=fields.text("id"),
        contact_id=contact_id,
        body=props.opt_text("hs_note_body") or "",
        created_at=parse_time(stamp, operation),
    )


def parse_time(value: str | None, operation: str) -> datetime:
    """An ISO 8601 time (or epoch milliseconds, which HubSpot also uses) as aware UTC."""
    if value is None:
        raise unexpected(INTEGRATION, operation, "missing properties.hs_timestamp")
    try:
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise unexpected(INTEGRATION, operation, "properties.hs_timestamp is not a time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(when: datetime) -> str:
    """A time as HubSpot writes it (``2026-01-02T03:04:05.678Z``)."""
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _first_associated(fields: JsonNode, kind: str) -> str | None:
    assoc = fields.opt_child("associations")
    group = assoc.opt_child(kind) if assoc is not None else None
    if group is None:
        return None
    for item in group.items("results", required=False):
        found = item.opt_text("id")
        if found:
            return found
    return None


def property_map(fields: JsonNode) -> Mapping[str, str]:
    """The string properties of an object, for merging with a later write's answer."""
    return fields.text_map("properties", lenient=True)
