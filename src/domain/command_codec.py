"""
JSON codec for `domain.commands`: what the outbox writes to disk and reads back after a crash.

The format is versioned (``"v": 1``) and explicit per field: money as integer minor units and a
currency, phones as E.164, enums by value, so ``decode(encode(c)) == c`` for every valid command.
Bad input raises `InvalidValue` naming the dotted path of the field (``request.amount.currency``),
never a KeyError, and never echoes the value.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from domain.commands import (
    AddNote,
    Command,
    CreateCheckoutLink,
    CreateDeal,
    CreatePaymentIntent,
    IssueRefund,
    MoveDeal,
    SendMessage,
    StartCall,
    UpsertContact,
)
from domain.crm import ContactDraft, DealDraft, LifecycleStage
from domain.errors import InvalidValue
from domain.messaging import OutboundMessage, TemplateMessage, TextMessage
from domain.payments import CheckoutRequest, PaymentRequest, RefundRequest
from domain.values import Email, IdempotencyKey, Money, PhoneNumber
from domain.voice import CallRequest


__all__ = ["FORMAT_VERSION", "decode_command", "encode_command", "from_dict", "to_dict"]

FORMAT_VERSION = 1
T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
Obj = Mapping[str, Any]


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


def to_dict(command: Command) -> dict[str, Any]:
    """The command as plain JSON types, tagged with its kind and the format version."""
    body: dict[str, Any]
    match command:
        case SendMessage(message=m):
            body = {"message": _message(m)}
        case UpsertContact(draft=d):
            body = {
                "draft": {
                    "phone": d.phone.e164 if d.phone else None,
                    "email": d.email.address if d.email else None,
                    "first_name": d.first_name,
                    "last_name": d.last_name,
                    "lifecycle_stage": d.lifecycle_stage.value if d.lifecycle_stage else None,
                    "properties": dict(d.properties),
                }
            }
        case CreateDeal(draft=d):
            body = {
                "draft": {
                    "contact_id": d.contact_id,
                    "name": d.name,
                    "stage": d.stage,
                    "amount": _money(d.amount),
                    "pipeline": d.pipeline,
                }
            }
        case MoveDeal(deal_id=deal_id, stage=stage):
            body = {"deal_id": deal_id, "stage": stage}
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
    """The command as compact JSON text (UTF-8 safe, sorted keys, so equal commands encode equal)."""
    return json.dumps(to_dict(command), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# ------------------------------------------------------------------ decoding


class _Reader:
    """Reads fields out of one JSON object, naming the dotted path in every error."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise InvalidValue(path or "command", "must be a JSON object")
        self.data: Obj = data
        self.path = path

    def _name(self, field: str) -> str:
        return f"{self.path}.{field}" if self.path else field

    def get(self, field: str, kind: type[T], *, optional: bool = False) -> T:
        if field not in self.data or self.data[field] is None:
            if optional:
                return None  # type: ignore[return-value]
            raise InvalidValue(self._name(field), "is required")
        value = self.data[field]
        if isinstance(value, bool) and kind is not bool:
            raise InvalidValue(self._name(field), f"must be {kind.__name__}, not bool")
        if not isinstance(value, kind):
            raise InvalidValue(
                self._name(field), f"must be {kind.__name__}, not {type(value).__name__}"
            )
        return value

    def obj(self, field: str, *, optional: bool = False) -> _Reader | None:
        if optional and self.data.get(field) is None:
            return None
        return _Reader(self.get(field, dict), self._name(field))

    def build(self, field: str, fn: Callable[[Any], T], value: object) -> T:
        """Run a domain constructor, re-labelling its error with this field's path."""
        try:
            return fn(value)
        except InvalidValue as err:
            raise InvalidValue(self._name(field), err.rule) from None

    def key(self, field: str, *, optional: bool = False) -> IdempotencyKey | None:
        raw = self.get(field, str, optional=optional)
        return None if raw is None else self.build(field, IdempotencyKey, raw)

    def enum(self, field: str, kind: type[E]) -> E | None:
        raw = self.get(field, str, optional=True)
        if raw is None:
            return None
        try:
            return kind(raw)
        except ValueError:
            raise InvalidValue(self._name(field), f"is not a known {kind.__name__}") from None

    def money(self, field: str, *, optional: bool = False) -> Money | None:
        sub = self.obj(field, optional=optional)
        if sub is None:
            return None
        amount = sub.get("amount_minor", int)
        currency = sub.get("currency", str)
        return self.build(field, lambda _: Money(amount, currency), None)

    def strings(self, field: str) -> dict[str, str]:
        raw = self.get(field, dict, optional=True) or {}
        if not all(isinstance(k, str) and isinstance(x, str) for k, x in raw.items()):
            raise InvalidValue(self._name(field), "must map str to str")
        return dict(raw)


def _required_key(r: _Reader, field: str) -> IdempotencyKey:
    key = r.key(field)
    assert key is not None
    return key


def _decode_message(r: _Reader) -> OutboundMessage:
    kind = r.get("type", str)
    to = r.get("to", str)
    key = r.key("key", optional=True)
    if kind == "text":
        body = r.get("body", str)
        return r.build("body", lambda _: TextMessage(to, body, key), None)
    if kind == "template":
        params = r.get("parameters", list, optional=True) or []
        return r.build(
            "template",
            lambda _: TemplateMessage(
                to, r.get("template", str), r.get("language", str), tuple(params), key
            ),
            None,
        )
    raise InvalidValue(r._name("type"), "must be 'text' or 'template'")


def _decode(r: _Reader, kind: str) -> Command:
    key = _required_key(r, "key")
    if kind == SendMessage.kind:
        message = _decode_message(_sub(r, "message"))
        return r.build("message", lambda _: SendMessage(message, key), None)
    if kind == UpsertContact.kind:
        d = _sub(r, "draft")
        draft = d.build(
            "phone",
            lambda _: ContactDraft(
                phone=d.get("phone", str, optional=True),
                email=d.get("email", str, optional=True),
                first_name=d.get("first_name", str, optional=True),
                last_name=d.get("last_name", str, optional=True),
                lifecycle_stage=d.enum("lifecycle_stage", LifecycleStage),
                properties=d.strings("properties"),
            ),
            None,
        )
        return UpsertContact(draft, key)
    if kind == CreateDeal.kind:
        d = _sub(r, "draft")
        amount = d.money("amount", optional=True)
        deal = d.build(
            "contact_id",
            lambda _: DealDraft(
                d.get("contact_id", str), d.get("name", str), d.get("stage", str), amount,
                d.get("pipeline", str),
            ),
            None,
        )
        return CreateDeal(deal, key)
    if kind == MoveDeal.kind:
        return r.build("deal_id", lambda _: MoveDeal(r.get("deal_id", str), r.get("stage", str), key), None)
    if kind == AddNote.kind:
        return r.build(
            "contact_id", lambda _: AddNote(r.get("contact_id", str), r.get("body", str), key), None
        )
    q = _sub(r, "request")
    if kind == CreatePaymentIntent.kind:
        amount = q.money("amount")
        return CreatePaymentIntent(
            q.build(
                "amount",
                lambda _: PaymentRequest(
                    amount, q.get("description", str), q.get("patient_ref", str),  # type: ignore[arg-type]
                    _required_key(q, "key"), q.strings("metadata"),
                ),
                None,
            )
        )
    if kind == CreateCheckoutLink.kind:
        amount = q.money("amount")
        return CreateCheckoutLink(
            q.build(
                "amount",
                lambda _: CheckoutRequest(
                    amount,  # type: ignore[arg-type]
                    q.get("description", str),
                    q.get("patient_ref", str),
                    q.get("success_url", str),
                    q.get("cancel_url", str, optional=True),
                    _required_key(q, "key"),
                    q.get("expires_in_seconds", int),
                    q.strings("metadata"),
                ),
                None,
            )
        )
    if kind == IssueRefund.kind:
        amount = q.money("amount", optional=True)
        return IssueRefund(
            q.build(
                "payment_intent_id",
                lambda _: RefundRequest(
                    q.get("payment_intent_id", str), _required_key(q, "key"), amount,
                    q.get("reason", str, optional=True),
                ),
                None,
            )
        )
    if kind == StartCall.kind:
        call_key = q.key("key", optional=True)
        call = q.build(
            "to",
            lambda _: CallRequest(
                q.get("to", str), q.get("assistant_id", str), q.strings("metadata"), call_key
            ),
            None,
        )
        return r.build("request", lambda _: StartCall(call, key), None)
    raise InvalidValue("kind", "is not a known command kind")


def _sub(r: _Reader, field: str) -> _Reader:
    sub = r.obj(field)
    assert sub is not None
    return sub


def from_dict(data: object) -> Command:
    """Rebuild a command from `to_dict` output; `InvalidValue` names the bad field."""
    r = _Reader(data, "")
    version = r.get("v", int)
    if version != FORMAT_VERSION:
        raise InvalidValue("v", f"unsupported command format version (expected {FORMAT_VERSION})")
    return _decode(r, r.get("kind", str))


def decode_command(text: str | bytes) -> Command:
    """Parse JSON text written by `encode_command`."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        raise InvalidValue("command", "is not valid JSON") from None
    return from_dict(data)
