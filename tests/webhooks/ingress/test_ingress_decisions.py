"""WebhookIngress: which answer each delivery gets, and what the host's handlers see."""

from __future__ import annotations

import logging

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.stores.memory import MemoryReplayStore
from portico.app.services.webhook_ingress import WebhookEndpoint
from portico.domain.errors import PayloadTooLarge
from portico.domain.events import DomainEvent
from portico.domain.replay import Claim
from portico.domain.webhooks import ClaimOutcome, ParsedDelivery, WebhookRequest


async def test_valid_delivery_is_dispatched_and_acknowledged(make_ingress, deliver, paid_type):
    """A signed delivery reaches the handler of its event type and is answered 200."""
    ingress = make_ingress()
    seen: list[DomainEvent] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event)

    ingress.on(paid_type, handler)
    response = await ingress.handle("test", deliver("evt_1"))
    assert response.status == 200
    assert response.body == {"received": True, "processed": 1, "duplicates": 0}
    assert [e.event_id for e in seen] == ["evt_1"]
    assert ingress.counters("test").processed == 1


async def test_several_handlers_and_base_class_handlers_all_run(make_ingress, deliver, paid_type):
    """Handlers for the type and for DomainEvent all run, in registration order."""
    ingress = make_ingress()
    calls: list[str] = []

    async def first(_event: DomainEvent) -> None:
        calls.append("first")

    async def second(_event: DomainEvent) -> None:
        calls.append("second")

    async def every(_event: DomainEvent) -> None:
        calls.append("every")

    ingress.on(paid_type, first)
    ingress.on(paid_type, second)
    ingress.on(DomainEvent, every)
    await ingress.handle("test", deliver("evt_1"))
    assert calls == ["first", "second", "every"]


async def test_a_handler_added_after_deliveries_runs_for_the_next_one(
    make_ingress, deliver, paid_type
):
    """The handlers looked up per event type are looked up again once `on` adds one."""
    ingress = make_ingress()
    calls: list[str] = []

    async def first(event: DomainEvent) -> None:
        calls.append(f"first {event.event_id}")

    async def later(event: DomainEvent) -> None:
        calls.append(f"later {event.event_id}")

    ingress.on(paid_type, first)
    await ingress.handle("test", deliver("evt_1"))
    ingress.on(DomainEvent, later)
    await ingress.handle("test", deliver("evt_2"))
    assert calls == ["first evt_1", "first evt_2", "later evt_2"]


async def test_duplicate_is_acknowledged_without_dispatch(make_ingress, deliver, paid_type):
    """The second delivery of an event is 200 duplicate and the handler runs once."""
    ingress = make_ingress()
    seen: list[str] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event.event_id)

    ingress.on(paid_type, handler)
    await ingress.handle("test", deliver("evt_1"))
    response = await ingress.handle("test", deliver("evt_1"))
    assert response.status == 200
    assert response.body == {"received": True, "duplicate": True}
    assert seen == ["evt_1"]
    assert ingress.counters("test").duplicates == 1


async def test_forged_signature_is_401(make_ingress, deliver):
    """A wrong signature is 401 with a reason and counted as invalid_signature."""
    ingress = make_ingress()
    good = deliver("evt_1")
    forged = WebhookRequest("POST", good.url, {"X-Test-Signature": "00" * 32}, good.body)
    response = await ingress.handle("test", forged)
    assert response.status == 401
    assert response.body == {"received": False, "error": "X-Test-Signature does not match the body"}
    assert ingress.counters("test").rejected == {"invalid_signature": 1}


async def test_malformed_body_is_400(make_ingress, sign):
    """A signed body that is not the documented JSON is 400 malformed."""
    ingress = make_ingress()
    response = await ingress.handle("test", sign(b"\xff\xfe not json"))
    assert response.status == 400
    assert ingress.counters("test").rejected == {"malformed_webhook": 1}


async def test_unknown_provider_is_404(make_ingress, deliver):
    """A provider nobody configured is 404, counted apart (names are attacker-chosen)."""
    ingress = make_ingress()
    response = await ingress.handle("nope", deliver("evt_1"))
    assert response.status == 404
    assert ingress.unknown_provider == 1
    assert set(ingress.snapshot()) == {"test"}


async def test_body_over_limit_is_413_before_verification(make_ingress, sign):
    """A body over max_body is 413 and never reaches the verifier."""
    ingress = make_ingress(max_body=10)
    response = await ingress.handle("test", sign(b"x" * 11))
    assert response.status == 413
    assert ingress.counters("test").rejected == {"payload_too_large": 1}


async def test_refuse_counts_an_early_rejection(make_ingress):
    """A transport's own 413 is counted through refuse()."""
    ingress = make_ingress()
    response = ingress.refuse("test", PayloadTooLarge("too big", integration="test"))
    assert response.status == 413
    assert ingress.counters("test").rejected["payload_too_large"] == 1


async def test_get_delivery_is_405(make_ingress, deliver):
    """Deliveries are POSTed; another method is 405 with Allow."""
    ingress = make_ingress()
    request = deliver("evt_1")
    response = await ingress.handle("test", WebhookRequest("PUT", request.url, {}, request.body))
    assert response.status == 405
    assert ("allow", "POST") in response.headers


async def test_unknown_event_types_are_acknowledged_and_counted(make_ingress, deliver):
    """Event types the parser does not know are 200 and counted, not errors."""
    ingress = make_ingress()
    response = await ingress.handle("test", deliver("evt_1", "evt_2", type_="invoice.created"))
    assert response.status == 200
    assert response.body["unknown_types"] == 2
    assert ingress.counters("test").unknown_types == 2


async def test_handler_failure_is_500_and_the_retry_is_processed(make_ingress, deliver, paid_type):
    """A failing handler gives 500 and releases the claim, so the retry is processed."""
    ingress = make_ingress()
    attempts: list[str] = []

    async def flaky(event: DomainEvent) -> None:
        attempts.append(event.event_id)
        if len(attempts) == 1:
            raise RuntimeError("database down for patient +15551234567")

    ingress.on(paid_type, flaky)
    first = await ingress.handle("test", deliver("evt_1"))
    retry = await ingress.handle("test", deliver("evt_1"))
    again = await ingress.handle("test", deliver("evt_1"))
    assert (first.status, retry.status, again.status) == (500, 200, 200)
    assert "Traceback" not in str(first.body)
    assert again.body == {"received": True, "duplicate": True}
    assert attempts == ["evt_1", "evt_1"]
    assert ingress.counters("test").handler_failures == 1


async def test_handler_failure_log_has_no_exception_message(
    make_ingress, deliver, paid_type, caplog
):
    """The log names the handler and the error type, never the message (it may hold PII)."""
    ingress = make_ingress()

    async def broken(_event: DomainEvent) -> None:
        raise ValueError("patient Jane Doe +15551234567")

    ingress.on(paid_type, broken)
    with caplog.at_level(logging.DEBUG, logger="portico.webhooks"):
        await ingress.handle("test", deliver("evt_1"))
    assert "ValueError" in caplog.text
    assert "broken" in caplog.text
    assert "Jane" not in caplog.text
    assert "5551234567" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)


async def test_batch_with_one_failure_completes_the_others(make_ingress, deliver, paid_type):
    """In a batch, events whose handlers succeeded are not re-processed on the retry."""
    ingress = make_ingress()
    seen: list[str] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event.event_id)
        if event.event_id == "b" and seen.count("b") == 1:
            raise RuntimeError("boom")

    ingress.on(paid_type, handler)
    first = await ingress.handle("test", deliver("a", "b", "c"))
    retry = await ingress.handle("test", deliver("a", "b", "c"))
    assert first.status == 500
    assert retry.status == 200
    assert retry.body == {"received": True, "processed": 1, "duplicates": 2}
    assert seen == ["a", "b", "c", "b"]


class _HeldStore:
    """A store where another worker holds every key."""

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Always in flight."""
        return Claim(key, ClaimOutcome.IN_FLIGHT)

    async def complete(self, claim: Claim) -> None:
        """Never called."""
        raise AssertionError(claim)

    async def release(self, claim: Claim) -> None:
        """Never called."""
        raise AssertionError(claim)


class _DownStore(_HeldStore):
    """A store whose backend is unreachable."""

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Always fails."""
        raise ConnectionError("redis://:secret@10.0.0.1 refused")


async def test_in_flight_is_503_with_retry_after(make_ingress, deliver):
    """An event held by another worker is 503 with Retry-After, so the provider retries."""
    ingress = make_ingress(replay_store=_HeldStore(), retry_after=7)
    response = await ingress.handle("test", deliver("evt_1"))
    assert response.status == 503
    assert ("retry-after", "7") in response.headers
    assert response.body["in_flight"] is True
    assert ingress.counters("test").in_flight == 1


async def test_store_down_is_503_without_leaking_the_error(make_ingress, deliver, caplog):
    """A replay store outage is 503; neither answer nor log carries the connection string."""
    ingress = make_ingress(replay_store=_DownStore())
    with caplog.at_level(logging.DEBUG, logger="portico.webhooks"):
        response = await ingress.handle("test", deliver("evt_1"))
    assert response.status == 503
    assert "secret" not in str(response.body)
    assert "secret" not in caplog.text


async def test_complete_failure_still_acknowledges(make_ingress, deliver, paid_type):
    """When the handler ran but complete() fails, the answer is 200: the work is done."""

    class _NoComplete(MemoryReplayStore):
        async def complete(self, claim: Claim) -> None:
            raise OSError("disk full")

    ingress = make_ingress(replay_store=_NoComplete())
    seen: list[str] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event.event_id)

    ingress.on(paid_type, handler)
    response = await ingress.handle("test", deliver("evt_1"))
    assert response.status == 200
    assert seen == ["evt_1"]


async def test_verifier_crash_is_500_without_traceback(make_ingress, deliver):
    """A bug in a verifier is a 500 'internal error', never an exception to the caller."""
    ingress = make_ingress()

    class _Broken:
        def verify(self, request: WebhookRequest) -> None:
            raise ZeroDivisionError

    ingress.endpoints["test"] = type(ingress.endpoints["test"])(
        _Broken(), ingress.endpoints["test"].parser
    )
    response = await ingress.handle("test", deliver("evt_1"))
    assert response.status == 500
    assert response.body == {"received": False, "error": "internal error; retry"}
    assert ingress.counters("test").rejected == {"internal_error": 1}


async def test_handshake_without_support_is_405(make_ingress):
    """A GET to a provider without a subscription handshake is 405."""
    ingress = make_ingress()
    response = await ingress.handshake("test", WebhookRequest("GET", "https://x/webhooks/test", {}))
    assert response.status == 405


async def test_handshake_unknown_provider_is_404(make_ingress):
    """A GET to an unknown provider is 404."""
    ingress = make_ingress()
    response = await ingress.handshake("nope", WebhookRequest("GET", "https://x/", {}))
    assert response.status == 404


async def test_snapshot_is_json_ready(make_ingress, deliver):
    """snapshot() reports every counter per provider, how long ago the last delivery came and
    how long the ingress has counted."""
    clock = FakeClock()
    ingress = make_ingress(clock=clock)
    clock.advance(10)
    await ingress.handle("test", deliver("evt_1"))
    clock.advance(3)
    assert ingress.snapshot() == {
        "test": {
            "received": 1,
            "processed": 1,
            "duplicates": 0,
            "in_flight": 0,
            "unknown_types": 0,
            "handler_failures": 0,
            "handler_rejected": 0,
            "store_failures": 0,
            "rejected": {},
            "last_received_age_seconds": 3.0,
            "counting_for_seconds": 13.0,
        }
    }


@pytest.mark.parametrize("lease", [0.5, 30.0])
async def test_claims_use_the_configured_lease(make_ingress, deliver, lease):
    """The lease passed to the store is the ingress's lease_seconds."""
    leases: list[float] = []

    class _Recording(MemoryReplayStore):
        async def claim(self, key: str, *, lease_seconds: float) -> Claim:
            leases.append(lease_seconds)
            return await super().claim(key, lease_seconds=lease_seconds)

    ingress = make_ingress(replay_store=_Recording(), lease_seconds=lease)
    await ingress.handle("test", deliver("evt_1"))
    assert leases == [lease]


def test_an_endpoint_looks_up_its_verifiers_validation_once():
    """`WebhookEndpoint.validation` is the verifier's handshake method, or None without one."""

    class Plain:
        def verify(self, request: WebhookRequest) -> None:
            """Accept everything."""

    class Validating(Plain):
        def validation(self, request: WebhookRequest) -> str | None:
            """Echo a fixed token."""
            return "token"

    class _NoEvents:
        provider = "plain"

        def parse(self, request: WebhookRequest) -> ParsedDelivery:
            """Nothing in it."""
            return ParsedDelivery("plain")

    parser = _NoEvents()
    assert WebhookEndpoint(Plain(), parser).validation is None
    verifier = Validating()
    found = WebhookEndpoint(verifier, parser).validation
    assert found is not None
    assert found(WebhookRequest("POST", "https://x/y", {}, b"")) == "token"
