"""A StartCall whose outcome was lost is redelivered with its key, and the patient is rung once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from portico.adapters.fakes import FakeClock, FakeVoice
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.resilience import BreakerRegistry, ResilientVoice, build_pipeline
from portico.adapters.vapi import VapiVoice
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.domain.commands import StartCall
from portico.domain.errors import OutcomeUnknown
from portico.domain.outbox import EntryState
from portico.domain.values import IdempotencyKey
from portico.domain.voice import Call, CallRequest
from portico.ports.execute import CommandPorts
from portico.ports.voice import VoicePort
from tests.simulators.faults import FaultInjector, FaultPlan
from tests.simulators.vapi import VapiSimulator


PHONE_ID = "42b4b25d-031e-4786-857f-63b346c9580f"
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"


@pytest.fixture
async def box(tmp_path, clock) -> AsyncIterator[SqliteOutbox]:
    """A SQLite outbox on the test clock."""
    outbox = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    yield outbox
    await outbox.close()


def _relay(box: SqliteOutbox, clock: Any, voice: VoicePort) -> OutboxRelay:
    return OutboxRelay(
        box,
        CommandPorts(voice=voice),
        RelaySettings(max_attempts=4),
        clock=clock,
        uniform=lambda a, b: (a + b) / 2,
    )


def _command() -> StartCall:
    request = CallRequest("+40712345678", ASSISTANT, metadata={"deal": "D-1"})
    return StartCall(request, IdempotencyKey("call-deal-D-1"))


class _RungThenLost(VoicePort):
    """The platform places the first call, but the answer times out on the way back."""

    def __init__(self, inner: FakeVoice) -> None:
        self.inner = inner
        self.results: list[Call] = []

    async def start_call(self, request: CallRequest) -> Call:
        call = await self.inner.start_call(request)
        self.results.append(call)
        if len(self.results) == 1:
            raise OutcomeUnknown("read timeout after the request was sent", integration="vapi")
        return call

    async def get_call(self, call_id: str) -> Call:
        return await self.inner.get_call(call_id)

    async def end_call(self, call_id: str) -> Call:
        return await self.inner.end_call(call_id)


async def test_a_timed_out_start_call_is_redelivered_and_rings_once(box, clock) -> None:
    """After OutcomeUnknown the relay resends the StartCall with its key; one call is placed."""
    port = _RungThenLost(FakeVoice())
    entry_id = await box.enqueue(_command())
    relay = _relay(box, clock, port)
    await relay.run(until_idle=True)
    assert (await box.get(entry_id)).state is EntryState.DELIVERED
    assert relay.stats.retried == 1
    assert len(port.inner.calls_made) == 1
    assert port.results[0].id == port.results[1].id
    calls = port.inner.faults.calls_to("start_call")
    assert [c.args[0].idempotency_key for c in calls] == [IdempotencyKey("call-deal-D-1")] * 2


class _LoseFirstCallAnswer:
    """Vapi places the first call, then the connection drops before the answer (a reset)."""

    def __init__(self, sim: VapiSimulator) -> None:
        self.sim = sim
        self.dropping = FaultInjector(sim, FaultPlan(resets=1.0))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        first_create = scope["type"] == "http" and (scope["method"], scope["path"]) == (
            "POST",
            "/call",
        )
        if first_create and not self.dropping.counters.resets:
            await self.dropping(scope, receive, send)
        else:
            await self.sim(scope, receive, send)


async def test_over_vapi_a_lost_answer_is_reconciled_and_rings_once(box, clock) -> None:
    """Through the resilient Vapi adapter and the simulator, the redelivery finds the first call."""
    sim = VapiSimulator(phone_numbers={PHONE_ID})
    transport = httpx.ASGITransport(app=_LoseFirstCallAnswer(sim))
    pipeline_clock = FakeClock()
    pipeline = build_pipeline(
        "vapi",
        registry=BreakerRegistry(),
        clock=pipeline_clock,
    )
    async with httpx.AsyncClient(base_url="https://api.vapi.ai", transport=transport) as http:
        vapi = VapiVoice(http=http, api_key=sim.api_key, phone_number_id=PHONE_ID)
        entry_id = await box.enqueue(_command())
        relay = _relay(box, clock, ResilientVoice(vapi, pipeline))
        await relay.run(until_idle=True)
    assert (await box.get(entry_id)).state is EntryState.DELIVERED
    assert relay.stats.retried == 1
    assert len(sim.calls) == 1
    assert len(sim.requests_to("POST", "/call")) == 1
    assert len([r for r in sim.received if r.method == "GET" and r.path == "/call"]) == 2
