"""
A dead token endpoint: the relay backs off (an outage, not a dead letter) and delivers once it
recovers. The real `GraphEmail` and its token provider run against the Graph simulator.
"""

from __future__ import annotations

import httpx

from portico.adapters.graph import GraphEmail
from portico.adapters.oauth import CachedTokenProvider, ClientCredentialsGrant, microsoft_token_url
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.resilience import (
    BreakerRegistry,
    ResiliencePolicy,
    ResilientEmail,
    build_pipeline,
)
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.app.services.relay_verdicts import Verdict, after_failure
from portico.domain.commands import SendEmail
from portico.domain.email import EmailMessage
from portico.domain.errors import AuthenticationFailed, TokenRefreshFailed
from portico.domain.outbox import EntryState, OutboxEntry
from portico.ports.execute import CommandPorts
from tests.outbox.conftest import ManualClock
from tests.simulators.graph import MAILBOX, GraphSimulator
from tests.simulators.oauth import CLIENT_ID, CLIENT_SECRET


PATIENT = "ana@example.com"
OUTAGE = 900.0  # seconds the identity platform answers 503


class TokenOutage(httpx.AsyncBaseTransport):
    """The identity platform answers 503 until ``until`` (monotonic, on the test's clock)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: ManualClock, until: float) -> None:
        self.inner, self.clock, self.until = inner, clock, until
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.clock.monotonic() < self.until:
            self.refused += 1
            return httpx.Response(503, json={"error": "temporarily_unavailable"})
        return await self.inner.handle_async_request(request)


def _entry(attempts: int) -> OutboxEntry:
    command = SendEmail(EmailMessage(sender=MAILBOX, to=(PATIENT,), subject="s", text="t"))
    return OutboxEntry(
        id="e1",
        seq=1,
        kind=command.kind,
        integration=command.integration,
        ordering_key=command.ordering_key,
        idempotency_key="k",
        payload="{}",
        state=EntryState.PENDING,
        attempts=attempts,
        enqueued_at=0.0,
        available_at=0.0,
    )


def test_a_failed_refresh_is_retried_with_growing_delay_and_dead_only_at_max_attempts() -> None:
    """TokenRefreshFailed: RETRY with a growing backoff; DEAD only once attempts run out."""
    command = SendEmail(EmailMessage(sender=MAILBOX, to=(PATIENT,), subject="s", text="t"))
    failed = TokenRefreshFailed("token endpoint answered 503", integration="graph")
    settings = RelaySettings(max_attempts=5)
    top = max  # the jitter's upper bound: the delay is the cap itself

    delays = []
    for attempt in (1, 2, 3, 4):
        decision = after_failure(_entry(attempt), command, failed, settings, uniform=top)
        assert decision.verdict is Verdict.RETRY
        delays.append(decision.delay)
    assert delays == sorted(delays)
    assert delays[0] < delays[-1]
    last = after_failure(_entry(5), command, failed, settings, uniform=top)
    assert last.verdict is Verdict.DEAD
    assert last.reason.startswith("gave up after 5 attempts")


def test_a_401_with_a_fresh_token_stays_a_dead_letter() -> None:
    """The vendor refusing a freshly issued token is not an outage: dead at once, as before."""
    command = SendEmail(EmailMessage(sender=MAILBOX, to=(PATIENT,), subject="s", text="t"))
    refused = AuthenticationFailed("token refused", integration="graph", status_code=401)
    decision = after_failure(_entry(1), command, refused, RelaySettings(), uniform=max)
    assert decision.verdict is Verdict.DEAD


async def test_the_email_waits_out_a_token_outage_and_is_delivered_once(tmp_path) -> None:
    """15 minutes of 503 from the token endpoint: kept pending, retried later, sent exactly once."""
    clock = ManualClock()
    simulator = GraphSimulator()
    asgi = httpx.ASGITransport(app=simulator)
    outage = TokenOutage(asgi, clock, clock.monotonic() + OUTAGE)
    grant = ClientCredentialsGrant(
        integration="graph",
        token_url=microsoft_token_url("contoso.onmicrosoft.com"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http=httpx.AsyncClient(transport=outage),
        clock=clock,
    )
    tokens = CachedTokenProvider(grant, key="graph:relay-test", clock=clock)
    adapter = GraphEmail(
        http=httpx.AsyncClient(transport=asgi, base_url="https://graph.microsoft.com"),
        tokens=tokens,
        clock=clock,
    )
    pipeline = build_pipeline(
        "graph",
        ResiliencePolicy(failure_threshold=3, reset_timeout=60.0),
        registry=BreakerRegistry(),
        clock=clock,
    )
    box = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    entry_id = await box.enqueue(
        SendEmail(EmailMessage(sender=MAILBOX, to=(PATIENT,), subject="Receipt", text="paid"))
    )
    relay = OutboxRelay(
        box,
        CommandPorts(email=ResilientEmail(adapter, pipeline)),
        RelaySettings(max_attempts=30, base_delay=5.0, max_delay=120.0),
        clock=clock,
        uniform=lambda a, b: (a + b) / 2,
    )
    try:
        assert await relay.run_once() == 1
        kept = await box.get(entry_id)
        assert kept is not None
        assert kept.state is EntryState.PENDING  # not a dead letter
        assert kept.available_at > clock()  # and not due again at once
        assert kept.last_error is not None
        assert "graph" in kept.last_error
        assert relay.stats.retried == 1

        await relay.run(until_idle=True)

        assert clock.monotonic() >= OUTAGE
        assert relay.stats.delivered == 1
        assert relay.stats.dead == 0
        assert relay.stats.paused > 0  # the breaker counted the failures and opened
        # Backing off and the open circuit: a few token requests in 15 minutes, never a loop.
        assert 3 <= outage.refused <= 3 + OUTAGE / 60 + 3
        assert [m.subject for m in simulator.delivered_to(PATIENT)] == ["Receipt"]
        done = await box.get(entry_id)
        assert done is not None
        assert done.state is EntryState.DELIVERED
    finally:
        await box.close()
        await adapter.aclose()
