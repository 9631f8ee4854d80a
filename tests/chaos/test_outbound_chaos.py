"""
Outbound chaos: commands through outbox, relay, resilience and the real HTTP adapters, against
vendor simulators served by uvicorn on loopback while a fault injector breaks one request in three.

Faults per request (seeded): 15% 503, 5% 429 with Retry-After, 5% connections dropped after the
vendor applied the request, 5% answers held past the client timeout, plus a 10-second outage of
both vendors. Proof, counted at the vendors: nothing lost (each command delivered, or a dead
letter with a reason), nothing applied twice (Stripe by idempotency key; WhatsApp, which has no
key, because the relay never resends a message whose outcome is unknown).

Time: backoff, breaker timeouts, rate limits and the outage run on one `FakeClock`, so no test
waits for a backoff; only the network and the client's read timeout are real. The default size
(``PORTICO_CHAOS_COMMANDS``, 5,000) is the issue's.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import attrs
import httpx
import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.resilience import (
    BreakerRegistry,
    Pipeline,
    ResilientMessaging,
    ResilientPayments,
    Timeout,
    build_pipeline,
)
from portico.adapters.stripe import StripePayments
from portico.adapters.whatsapp import WhatsAppMessaging, meta_cloud
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.app.wiring.registry import BUILTIN_VENDORS
from portico.domain.commands import CreatePaymentIntent, SendMessage
from portico.domain.messaging import TextMessage
from portico.domain.outbox import EntryState
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from portico.ports.execute import CommandPorts
from tests.simulators.faults import FaultInjector, FaultPlan
from tests.simulators.server import serve
from tests.simulators.stripe import StripeSimulator
from tests.simulators.whatsapp import WhatsAppSimulator


POLICIES = {spec.name: spec.policy for spec in BUILTIN_VENDORS}


pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

COMMANDS = int(os.environ.get("PORTICO_CHAOS_COMMANDS", "5000"))
START = 1_700_000_000.0
CLIENT_TIMEOUT = httpx.Timeout(0.3, connect=2.0, pool=None)


def plan(seed: int) -> FaultPlan:
    """The issue's mix: 20% transient, 5% resets, 5% timeouts, one outage."""
    return FaultPlan(
        unavailable=0.15,
        rate_limited=0.05,
        retry_after=2.0,
        resets=0.05,
        slow=0.05,
        slow_seconds=0.6,
        outage_after=200,  # then ten seconds of the system's (fake) time
        outage_seconds=10.0,
        seed=seed,
    )


@attrs.define
class Vendors:
    """The two simulators, their fault injectors and their base URLs."""

    stripe: StripeSimulator
    whatsapp: WhatsAppSimulator
    stripe_faults: FaultInjector
    whatsapp_faults: FaultInjector
    stripe_url: str = ""
    whatsapp_url: str = ""


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    """The time the relay, the outbox, the policies and the outage windows share."""
    return FakeClock(monotonic=START)


@pytest.fixture(name="vendors")
def _vendors(clock: FakeClock) -> Iterator[Vendors]:
    """Stripe and WhatsApp simulators behind fault injectors, each on its own uvicorn."""
    stripe, whatsapp = StripeSimulator(), WhatsAppSimulator()
    vendors = Vendors(
        stripe,
        whatsapp,
        FaultInjector(stripe, plan(seed=11), clock=clock.monotonic),
        FaultInjector(whatsapp, plan(seed=12), clock=clock.monotonic),
    )
    with ExitStack() as stack:
        vendors.stripe_url = stack.enter_context(serve(vendors.stripe_faults))
        vendors.whatsapp_url = stack.enter_context(serve(vendors.whatsapp_faults))
        yield vendors


def pipeline(name: str, registry: BreakerRegistry, clock: FakeClock) -> Pipeline:
    """The integration's default pipeline on the fake clock, with a real per-attempt timeout."""
    built = build_pipeline(
        name,
        POLICIES[name],
        registry=registry,
        clock=clock,
    )
    # The attempt timeout guards real socket time, so it runs on the real clock; the httpx read
    # timeout (0.3 s) fires first, this is the backstop.
    built.timeout = Timeout(name, 5.0)
    return built


@pytest.fixture(name="outbox")
async def _outbox(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteOutbox]:
    """A SQLite outbox file on the fake clock."""
    box = SqliteOutbox(tmp_path / "chaos-outbox.sqlite3", clock=clock)
    yield box
    await box.close()


def text_of(n: int) -> str:
    """The body of message ``n``: how the vendor-side count finds it."""
    return f"chaos message {n}"


async def enqueue_all(box: SqliteOutbox, count: int) -> tuple[dict[str, int], dict[str, str]]:
    """Half payments, half messages; returns entry id -> message n, and entry id -> Stripe key."""
    messages: dict[str, int] = {}
    payments: dict[str, str] = {}
    for n in range(count):
        if n % 2:
            phone = f"+40712{n % 400:06d}"
            entry = await box.enqueue(SendMessage(TextMessage(phone, text_of(n))))
            messages[entry] = n
        else:
            key = IdempotencyKey.derive("chaos", str(n))
            request = PaymentRequest(Money(1000 + n, "EUR"), "Consultation", f"p{n % 500}", key)
            entry = await box.enqueue(CreatePaymentIntent(request))
            payments[entry] = key.value
    return messages, payments


async def test_no_command_is_lost_or_applied_twice_under_faults(
    vendors: Vendors, outbox: SqliteOutbox, clock: FakeClock
) -> None:
    """Under 30% faults and an outage every command is delivered once or dead with a reason."""
    messages, payments = await enqueue_all(outbox, COMMANDS)
    registry = BreakerRegistry()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(
            base_url=vendors.stripe_url, timeout=CLIENT_TIMEOUT, limits=limits
        ) as stripe_http,
        httpx.AsyncClient(
            base_url=vendors.whatsapp_url, timeout=CLIENT_TIMEOUT, limits=limits
        ) as whatsapp_http,
    ):
        stripe = StripePayments(http=stripe_http, api_key=vendors.stripe.api_key)
        whatsapp = WhatsAppMessaging(
            http=whatsapp_http,
            credential=vendors.whatsapp.token,
            flavour=meta_cloud(),
            phone_number_id=vendors.whatsapp.phone_number_id,
        )
        relay = OutboxRelay(
            outbox,
            CommandPorts(
                payments=ResilientPayments(stripe, pipeline("stripe", registry, clock)),
                messaging=ResilientMessaging(whatsapp, pipeline("whatsapp", registry, clock)),
            ),
            RelaySettings(batch_size=40, max_attempts=30),
            clock=clock,
            uniform=lambda a, b: (a + b) / 2,
        )
        await relay.run(until_idle=True)

    status = await outbox.status()
    assert status.pending == 0

    # Every injected fault kind happened, and the outage opened the breaker.
    for injector in (vendors.stripe_faults, vendors.whatsapp_faults):
        counts = injector.counters
        assert min(counts.unavailable, counts.rate_limited, counts.resets, counts.slow) > 0
        assert counts.outage > 0
    assert relay.stats.paused > 0

    # Stripe honours idempotency keys: every payment applied exactly once, none lost.
    payment_entries = [await outbox.get(entry_id) for entry_id in payments]
    assert all(e is not None and e.state is EntryState.DELIVERED for e in payment_entries)
    assert set(vendors.stripe.applied) == set(payments.values())
    assert len(vendors.stripe.intents) == len(payments)

    # WhatsApp has no key: delivered exactly once, or a dead letter (applied at most once).
    applied = Counter(m.payload["text"]["body"] for m in vendors.whatsapp.messages.values())
    assert max(applied.values()) == 1
    dead = 0
    for entry_id, n in messages.items():
        entry = await outbox.get(entry_id)
        assert entry is not None
        if entry.state is EntryState.DELIVERED:
            assert applied[text_of(n)] == 1
        else:
            assert entry.state is EntryState.DEAD
            assert entry.last_error
            assert "outcome unknown" in entry.last_error
            dead += 1
    assert status.dead == dead
    assert dead > 0  # the dropped and held answers did leave unknown outcomes
