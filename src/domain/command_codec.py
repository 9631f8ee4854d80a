"""
JSON codec for `domain.commands`: what the outbox writes to disk and reads back after a crash.

The format is versioned (``"v": 1``) and explicit per field: money as integer minor units and a
currency, phones as E.164, enums by value, so ``decode(encode(c)) == c`` for every valid command.
Stages are the domain's (``"won"``, ``"marketing_qualified"``); rows written before the domain had
its own stage names hold HubSpot's default values (``"closedwon"``, ``"marketingqualifiedlead"``),
which still decode to the same stages (`LEGACY_STAGES`). Any other stage is refused: a stored
stage no one can map must not move a deal somewhere else.
Bad input raises `InvalidValue` naming the dotted path of the field (``request.amount.currency``),
never a KeyError, and never echoes the value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import attrs

from .commands import (
    AddNote,
    Command,
    CreateCheckoutLink,
    CreateDeal,
    CreatePaymentIntent,
    IssueRefund,
    MoveDeal,
    SendEmail,
    SendMessage,
    StartCall,
    UpdateContact,
    UpsertContact,
)
from .crm import ContactDraft, DealDraft, DealStage, LifecycleStage
from .email import Attachment, EmailMessage
from .errors import InvalidValue
from .json_reader import JsonNode, PathError
from .messaging import OutboundMessage, TemplateMessage, TextMessage
from .payments import CheckoutRequest, PaymentRequest, RefundRequest
from .values import IdempotencyKey, Money
from .voice import CallRequest


__all__ = [
    "FORMAT_VERSION",
    "LEGACY_STAGES",
    "decode_command",
    "encode_command",
    "from_dict",
    "to_dict",
]

FORMAT_VERSION = 1
# The HubSpot default values that format-1 rows held before the domain named its own stages.
LEGACY_STAGES: Mapping[str, LifecycleStage | DealStage] = MappingProxyType(
    {
        "marketingqualifiedlead": LifecycleStage.MARKETING_QUALIFIED,
        "salesqualifiedlead": LifecycleStage.SALES_QUALIFIED,
        "evangelist": LifecycleStage.ADVOCATE,
        "appointmentscheduled": DealStage.OPEN,
        "closedwon": DealStage.WON,
        "closedlost": DealStage.LOST,
    }
)


# ------------------------------------------------------------------ encoding


def _money(m: Money | None) -> dict[str, Any] | None:
    return None if m is None else {"amount_minor": m.amount_minor, "currency": m.currency}


def _key(k: IdempotencyKey | None) -> str | None:
    return None if k is None else k.value


def _message(m: OutboundMessage) -> dict[str, Any]:
    if isinstance(m, TextMessage):
        return {"type": "text", "to": m.to.e164, "body": m.body, "key": _key(m.idempotency_key)}
    return {
        "type": "template",
        "to": m.to.e164,
        "template": m.template,
        "language": m.language,
        "parameters": list(m.parameters),
        "key": _key(m.idempotency_key),
    }


def _email(m: EmailMessage) -> dict[str, Any]:
    return {
        "sender": m.sender.address,
        "to": [a.address for a in m.to],
        "cc": [a.address for a in m.cc],
        "subject": m.subject,
        "text": m.text,
        "html": m.html,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "content": base64.b64encode(a.content).decode("ascii"),
            }
            for a in m.attachments
        ],
        "key": _key(m.idempotency_key),
    }


def to_dict(command: Command) -> dict[str, Any]:
    """The command as plain JSON types, tagged with its kind and the format version."""
    body: dict[str, Any]
    match command:
        case SendMessage(message=m):
            body = {"message": _message(m)}
        case SendEmail(message=e):
            body = {"email": _email(e)}
        case UpsertContact(draft=d):
            body = {
                "draft": {
                    "phone": d.phone.e164 if d.phone else None,
                    "email": d.email.address if d.email else None,
                    "first_name": d.first_name,
                    "last_name": d.last_name,
                    "lifecycle_stage": d.lifecycle_stage.value if d.lifecycle_stage else None,
                    "properties": dict(d.properties),
                },
                "redeliverable": command.redeliverable,
            }
        case UpdateContact(contact_id=contact_id, lifecycle_stage=stage):
            body = {
                "contact_id": contact_id,
                "properties": dict(command.properties),
                "lifecycle_stage": stage.value if stage else None,
            }
        case CreateDeal(draft=d):
            body = {
                "draft": {
                    "contact_id": d.contact_id,
                    "name": d.name,
                    "stage": d.stage.value,
                    "amount": _money(d.amount),
                    "pipeline": d.pipeline,
                }
            }
        case MoveDeal(deal_id=deal_id, stage=stage):
            body = {"deal_id": deal_id, "stage": stage.value}
        case AddNote(contact_id=contact_id, body=text):
            body = {"contact_id": contact_id, "body": text}
        case CreatePaymentIntent(request=r):
            body = {
                "request": {
                    "amount": _money(r.amount),
                    "description": r.description,
                    "patient_ref": r.patient_ref,
                    "key": r.idempotency_key.value,
                    "metadata": dict(r.metadata),
                }
            }
        case CreateCheckoutLink(request=r):
            body = {
                "request": {
                    "amount": _money(r.amount),
                    "description": r.description,
                    "patient_ref": r.patient_ref,
                    "success_url": r.success_url,
                    "cancel_url": r.cancel_url,
                    "key": r.idempotency_key.value,
                    "expires_in_seconds": r.expires_in_seconds,
                    "created_at": r.created_at.isoformat(),
                    "metadata": dict(r.metadata),
                }
            }
        case IssueRefund(request=r):
            body = {
                "request": {
                    "payment_intent_id": r.payment_intent_id,
                    "key": r.idempotency_key.value,
                    "amount": _money(r.amount),
                    "reason": r.reason,
                }
            }
        case StartCall(request=r):
            body = {
                "request": {
                    "to": r.to.e164,
                    "assistant_id": r.assistant_id,
                    "metadata": dict(r.metadata),
                    "key": _key(r.idempotency_key),
                }
            }
    return {"v": FORMAT_VERSION, "kind": command.kind, "key": command.idempotency_key.value, **body}


def encode_command(command: Command) -> str:
    """The command as compact JSON (sorted keys: equal commands encode to equal text)."""
    return json.dumps(to_dict(command), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# ------------------------------------------------------------------ decoding


def _idempotency_key(r: JsonNode, field: str) -> IdempotencyKey:
    raw = r.get(field, str)
    try:
        return IdempotencyKey(raw)
    except InvalidValue as err:  # named ``idempotency_key``: the stored field is ``key``
        raise PathError(r.name(field), err.rule) from None


def _opt_key(r: JsonNode, field: str) -> IdempotencyKey | None:
    return _idempotency_key(r, field) if r.has(field) else None


def _money_of(r: JsonNode, field: str) -> Money:
    m = r.child(field)
    amount, currency = m.get("amount_minor", int), m.get("currency", str)
    return m.build(lambda: Money(amount, currency))


def _opt_money(r: JsonNode, field: str) -> Money | None:
    return _money_of(r, field) if r.has(field) else None


def _instant(r: JsonNode, field: str) -> datetime:
    raw = r.get(field, str)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        r.fail("must be an ISO 8601 datetime", field)
    if value.utcoffset() is None:
        r.fail("must carry a UTC offset", field)
    return value


def _opt_lifecycle(r: JsonNode, field: str) -> LifecycleStage | None:
    legacy = LEGACY_STAGES.get(r.opt(field, str) or "")
    if isinstance(legacy, LifecycleStage):
        return legacy
    return r.opt_enum(field, LifecycleStage)


def _deal_stage(r: JsonNode, field: str) -> DealStage:
    legacy = LEGACY_STAGES.get(r.get(field, str))
    if isinstance(legacy, DealStage):
        return legacy
    return r.enum(field, DealStage)


def _read_message(r: JsonNode) -> OutboundMessage:
    kind, to, key = r.get("type", str), r.get("to", str), _opt_key(r, "key")
    if kind == "text":
        body = r.get("body", str)
        return r.build(lambda: TextMessage(to, body, key))
    if kind == "template":
        template, language, params = (
            r.get("template", str),
            r.get("language", str),
            r.texts("parameters"),
        )
        return r.build(lambda: TemplateMessage(to, template, language, params, key))
    raise PathError(r.name("type"), "must be 'text' or 'template'")


def _attachment(a: JsonNode) -> Attachment:
    name, kind, raw = a.get("filename", str), a.get("content_type", str), a.get("content", str)
    try:
        content = base64.b64decode(raw, validate=True)
    except ValueError:
        raise PathError(a.name("content"), "must be base64") from None
    return a.build(lambda: Attachment(name, kind, content))


def _read_email(r: JsonNode) -> EmailMessage:
    sender, subject = r.get("sender", str), r.get("subject", str)
    to, cc = r.texts("to"), r.texts("cc")
    text, html = r.opt("text", str), r.opt("html", str)
    files = tuple(_attachment(a) for a in r.items("attachments"))
    key = _opt_key(r, "key")
    return r.build(lambda: EmailMessage(sender, to, subject, text, html, cc, files, key))


def _contact(d: JsonNode) -> ContactDraft:
    phone, email = d.opt("phone", str), d.opt("email", str)
    first, last = d.opt("first_name", str), d.opt("last_name", str)
    stage, props = _opt_lifecycle(d, "lifecycle_stage"), d.text_map("properties")
    return d.build(lambda: ContactDraft(phone, email, first, last, stage, props))


def _deal(d: JsonNode) -> DealDraft:
    contact, name, stage = d.get("contact_id", str), d.get("name", str), _deal_stage(d, "stage")
    amount, pipeline = _opt_money(d, "amount"), d.get("pipeline", str)
    return d.build(lambda: DealDraft(contact, name, stage, amount, pipeline))


def _payment(q: JsonNode) -> PaymentRequest:
    amount, description = _money_of(q, "amount"), q.get("description", str)
    patient, key = q.get("patient_ref", str), _idempotency_key(q, "key")
    metadata = q.text_map("metadata")
    return q.build(lambda: PaymentRequest(amount, description, patient, key, metadata))


def _checkout(q: JsonNode) -> CheckoutRequest:
    amount, description, patient = (
        _money_of(q, "amount"),
        q.get("description", str),
        q.get("patient_ref", str),
    )
    success, cancel = q.get("success_url", str), q.opt("cancel_url", str)
    key, expires = _idempotency_key(q, "key"), q.get("expires_in_seconds", int)
    metadata = q.text_map("metadata")
    # A row written before ``created_at`` existed: dated by `decode_command` from the row's
    # ``enqueued_at`` when the caller has it, else stamped now (the old behaviour).
    created = _instant(q, "created_at") if q.has("created_at") else None

    def build() -> CheckoutRequest:
        request = CheckoutRequest(
            amount, description, patient, success, cancel, key, expires, metadata
        )
        return request if created is None else attrs.evolve(request, created_at=created)

    return q.build(build)


def _refund(q: JsonNode) -> RefundRequest:
    intent, key = q.get("payment_intent_id", str), _idempotency_key(q, "key")
    amount, reason = _opt_money(q, "amount"), q.opt("reason", str)
    return q.build(lambda: RefundRequest(intent, key, amount, reason))


def _call(q: JsonNode) -> CallRequest:
    to, assistant = q.get("to", str), q.get("assistant_id", str)
    metadata, key = q.text_map("metadata"), _opt_key(q, "key")
    return q.build(lambda: CallRequest(to, assistant, metadata, key))


def _decode(r: JsonNode, kind: str) -> Command:
    key = _idempotency_key(r, "key")
    if kind == SendMessage.kind:
        message = _read_message(r.child("message"))
        return r.build(lambda: SendMessage(message, key))
    if kind == SendEmail.kind:
        email = _read_email(r.child("email"))
        return r.build(lambda: SendEmail(email, key))
    if kind == UpsertContact.kind:
        draft = _contact(r.child("draft"))
        # A row stored before the flag existed gets the safe default (True only with an email).
        flag = r.opt("redeliverable", bool)
        if flag is None:
            return UpsertContact(draft, key)
        return UpsertContact(draft, key, redeliverable=flag)
    if kind == UpdateContact.kind:
        contact, props = r.get("contact_id", str), r.text_map("properties")
        lifecycle = _opt_lifecycle(r, "lifecycle_stage")
        return r.build(lambda: UpdateContact(contact, props, lifecycle, key))
    if kind == CreateDeal.kind:
        return CreateDeal(_deal(r.child("draft")), key)
    if kind == MoveDeal.kind:
        deal, stage = r.get("deal_id", str), _deal_stage(r, "stage")
        return r.build(lambda: MoveDeal(deal, stage, key))
    if kind == AddNote.kind:
        contact, body = r.get("contact_id", str), r.get("body", str)
        return r.build(lambda: AddNote(contact, body, key))
    if kind == CreatePaymentIntent.kind:
        return _same(CreatePaymentIntent(_payment(r.child("request"))), key)
    if kind == CreateCheckoutLink.kind:
        return _same(CreateCheckoutLink(_checkout(r.child("request"))), key)
    if kind == IssueRefund.kind:
        return _same(IssueRefund(_refund(r.child("request"))), key)
    if kind == StartCall.kind:
        call = _call(r.child("request"))
        return r.build(lambda: StartCall(call, key))
    raise PathError("kind", "is not a known command kind")


def _same(command: Command, key: IdempotencyKey) -> Command:
    if command.idempotency_key != key:
        raise PathError("key", "differs from request.key")
    return command


def from_dict(data: object) -> Command:
    """Rebuild a command from `to_dict` output; `InvalidValue` names the bad field."""
    if not isinstance(data, dict):
        raise PathError("command", "must be a JSON object")
    r = JsonNode(data, error=PathError)
    version = r.get("v", int)
    if version != FORMAT_VERSION:
        raise PathError("v", f"unsupported command format version (expected {FORMAT_VERSION})")
    return _decode(r, r.get("kind", str))


def decode_command(text: str | bytes, *, enqueued_at: float | None = None) -> Command:
    """
    Parse JSON text written by `encode_command`.

    ``enqueued_at`` (epoch seconds, the outbox row's) dates a checkout stored before
    ``created_at`` existed, so every retry sends the same ``expires_at`` under its key; without
    it such a checkout is stamped at decode time.
    """
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        raise InvalidValue("command", "is not valid JSON") from None
    if enqueued_at is not None:
        _date_legacy_checkout(data, enqueued_at)
    return from_dict(data)


def _date_legacy_checkout(data: object, enqueued_at: float) -> None:
    if not isinstance(data, dict) or data.get("kind") != CreateCheckoutLink.kind:
        return
    request = data.get("request")
    if isinstance(request, dict) and request.get("created_at") is None:
        request["created_at"] = datetime.fromtimestamp(enqueued_at, UTC).isoformat()
