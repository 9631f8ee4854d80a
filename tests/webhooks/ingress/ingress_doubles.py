"""Test doubles of the webhook ports, so the ingress is tested without any vendor scheme.

A module of its own (not conftest) so that spawned worker processes can import it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import attrs

from portico.adapters.stores.memory import MemoryReplayStore
from portico.app.services.webhook_ingress import WebhookEndpoint, WebhookIngress
from portico.domain.errors import InvalidSignature, MalformedWebhook
from portico.domain.events import DomainEvent
from portico.domain.webhooks import ParsedDelivery, WebhookRequest


SECRET = b"test-secret"
URL = "https://hooks.example.org/webhooks/test"


@attrs.frozen(kw_only=True)
class Paid(DomainEvent):
    """A test event."""

    amount: int


class HmacVerifier:
    """X-Test-Signature: hex HMAC-SHA256 of the body."""

    def verify(self, request: WebhookRequest) -> None:
        """Accept only a matching signature."""
        given = request.headers.get("x-test-signature")
        if given is None:
            raise InvalidSignature("no X-Test-Signature header", integration="test")
        expected = hmac.new(SECRET, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            raise InvalidSignature("X-Test-Signature does not match the body", integration="test")


class JsonParser:
    """{"events": [{"id": ..., "type": "paid"|..., "amount": n}]}."""

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """Paid events; every other type is unknown."""
        try:
            data = json.loads(request.body.decode("utf-8"))
            items = data["events"]
            events: list[DomainEvent] = []
            unknown: list[str] = []
            for item in items:
                if item["type"] == "paid":
                    events.append(
                        Paid(
                            event_id=str(item["id"]),
                            provider="test",
                            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                            amount=int(item["amount"]),
                        )
                    )
                else:
                    unknown.append(str(item["type"]))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise MalformedWebhook(f"body: {type(exc).__name__}", integration="test") from exc
        return ParsedDelivery("test", tuple(events), tuple(unknown))


def signed(payload: dict[str, Any] | bytes) -> WebhookRequest:
    """A correctly signed POST of ``payload``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return WebhookRequest("POST", URL, {"X-Test-Signature": signature}, body)


def delivery(*ids: str, type_: str = "paid") -> WebhookRequest:
    """A signed delivery of one event per id."""
    return signed({"events": [{"id": i, "type": type_, "amount": 100} for i in ids]})


def make_ingress(**kwargs: Any) -> WebhookIngress:
    """An ingress with the test provider, a memory store unless given, and overrides."""
    kwargs.setdefault("replay_store", MemoryReplayStore())
    return WebhookIngress({"test": WebhookEndpoint(HmacVerifier(), JsonParser())}, **kwargs)
