"""The vendor simulators: vendor-like state and answers, the fault injector, and a real socket."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import free_port
from tests.simulators.faults import FaultInjector, FaultPlan
from tests.simulators.twilio import TwilioSimulator
from tests.simulators.vapi import VapiSimulator
from tests.simulators.whatsapp import SimMessage, WhatsAppSimulator

from portico.adapters.twilio import TwilioMessaging
from portico.adapters.vapi import VapiVoice
from portico.adapters.whatsapp import WhatsAppMessaging
from portico.domain.errors import InvalidRequest, RateLimited, Unavailable
from portico.domain.messaging import DeliveryStatus, TemplateMessage, TextMessage
from portico.domain.values import PhoneNumber
from portico.domain.voice import CallRequest, CallStatus


PATIENT = "+40712345678"
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"


def _client(sim: Any, base: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base, transport=httpx.ASGITransport(app=sim))


async def test_whatsapp_sim_issues_wamids_and_records_the_payload() -> None:
    """A send gets a wamid id; the simulator keeps what it received, digits without '+'."""
    sim = WhatsAppSimulator()
    async with _client(sim, "https://graph.facebook.com") as http:
        port = WhatsAppMessaging(
            http=http, credential=sim.token, phone_number_id=sim.phone_number_id
        )
        receipt = await port.send(TextMessage(PATIENT, "Hello"))
    assert receipt.message_id.startswith("wamid.")
    assert sim.messages[receipt.message_id].to == "40712345678"
    assert sim.received[0].headers["authorization"] == f"Bearer {sim.token}"


async def test_whatsapp_sim_enforces_the_window_and_templates() -> None:
    """With the window enforced a text fails with 131047 until the patient writes."""
    sim = WhatsAppSimulator(enforce_window=True, approved_templates={"hello_world"})
    async with _client(sim, "https://graph.facebook.com") as http:
        port = WhatsAppMessaging(
            http=http, credential=sim.token, phone_number_id=sim.phone_number_id
        )
        with pytest.raises(InvalidRequest, match="TemplateMessage") as closed:
            await port.send(TextMessage(PATIENT, "Hello"))
        assert closed.value.vendor_code == "131047"
        await port.send(TemplateMessage(PATIENT, "hello_world", "en_US"))
        with pytest.raises(InvalidRequest) as unknown:
            await port.send(TemplateMessage(PATIENT, "nope"))
        assert unknown.value.vendor_code == "132001"
        sim.open_window(PATIENT)
        await port.send(TextMessage(PATIENT, "Hello"))


def test_whatsapp_sim_status_webhook_has_metas_shape() -> None:
    """advance() returns the entry/changes/value/statuses body Meta posts."""
    sim = WhatsAppSimulator()
    sim.messages["wamid.x"] = SimMessage("wamid.x", "40712345678", "text", {})
    body = sim.advance("wamid.x", DeliveryStatus.FAILED)
    event = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert event["id"] == "wamid.x"
    assert event["status"] == "failed"
    assert event["errors"][0]["code"] == 131026


async def test_twilio_sim_follows_twilio_status_rules() -> None:
    """SM sids, 'queued' on create, forward-only status, 404 with code 20404."""
    sim = TwilioSimulator()
    async with _client(sim, "https://api.twilio.com") as http:
        port = TwilioMessaging(
            http=http,
            account_sid=sim.account_sid,
            auth_token=sim.auth_token,
            sender=PhoneNumber("+15017122661"),
        )
        receipt = await port.send(TextMessage(PATIENT, "Hello"))
        assert receipt.message_id.startswith("SM")
        assert sim.advance(receipt.message_id, "delivered") == "delivered"
        assert sim.advance(receipt.message_id, "sent") == "delivered"
        assert (await port.get_status(receipt.message_id)).status is DeliveryStatus.DELIVERED
    form = sim.received[0].form()
    assert form["To"] == PATIENT
    assert base64.b64decode(sim.received[0].headers["authorization"][6:]).decode().startswith("AC")


async def test_vapi_sim_calls_progress_and_end_through_control() -> None:
    """UUID ids, forward-only statuses, end-call through the control URL."""
    sim = VapiSimulator()
    async with _client(sim, "https://api.vapi.ai") as http:
        port = VapiVoice(http=http, api_key=sim.api_key, phone_number_id="pn-1")
        call = await port.start_call(CallRequest(PATIENT, ASSISTANT))
        sim.progress(call.id, "in-progress")
        sim.progress(call.id, "ringing")  # late, ignored
        assert (await port.get_call(call.id)).status is CallStatus.IN_PROGRESS
        ended = await port.end_call(call.id)
    assert ended.ended_reason == "manually-canceled"
    assert sim.controls == [(call.id, {"type": "end-call"})]


@pytest.mark.parametrize(
    ("sim", "base", "make"),
    [
        pytest.param(WhatsAppSimulator, "https://graph.facebook.com", "whatsapp", id="whatsapp"),
        pytest.param(TwilioSimulator, "https://api.twilio.com", "twilio", id="twilio"),
    ],
)
async def test_faults_queue_503_and_429_with_retry_after(sim: Any, base: str, make: str) -> None:
    """fail_next answers 503 then 429 (Retry-After), then the vendor answers normally."""
    server = sim()
    faults = FaultInjector(server, FaultPlan(retry_after=2.5))
    faults.fail_next(503, 429)
    async with _client(faults, base) as http:
        if make == "whatsapp":
            port: Any = WhatsAppMessaging(
                http=http, credential=server.token, phone_number_id=server.phone_number_id
            )
        else:
            port = TwilioMessaging(
                http=http,
                account_sid=server.account_sid,
                auth_token=server.auth_token,
                sender=PhoneNumber("+15017122661"),
            )
        with pytest.raises(Unavailable) as down:
            await port.send(TextMessage(PATIENT, "Hello"))
        with pytest.raises(RateLimited) as slow:
            await port.send(TextMessage(PATIENT, "Hello"))
        await port.send(TextMessage(PATIENT, "Hello"))
    assert down.value.request_sent is False
    assert slow.value.retry_after == 2.5
    assert faults.counters.received == 3
    assert len(server.received) == 1  # the faults were answered before the vendor


async def test_fault_shares_are_seeded_and_slow_answers_use_the_injected_sleep() -> None:
    """A seeded plan faults the same requests each run; a slow answer waits through `sleep`."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    plan = FaultPlan(unavailable=0.3, rate_limited=0.2, slow=0.2, slow_seconds=0.7, seed=7)
    runs = []
    for _ in range(2):
        faults = FaultInjector(TwilioSimulator(), plan, sleep=fake_sleep)
        async with _client(faults, "https://api.twilio.com") as http:
            runs.append([(await http.get("/2010-04-01/none")).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {503, 429, 401} == set(runs[0])  # 401: Twilio itself refuses the missing auth
    assert slept == [0.7] * (2 * faults.counters.slow)
    assert faults.counters.slow > 0


def test_fail_next_takes_only_error_statuses() -> None:
    """fail_next refuses a status that is not an error, so a typo cannot pass silently."""
    with pytest.raises(ValueError, match="error statuses"):
        FaultInjector(TwilioSimulator()).fail_next(200)


async def test_a_simulator_serves_a_real_socket_with_uvicorn() -> None:
    """The same simulator object runs under uvicorn, and the adapter talks to it over TCP."""
    sim = VapiSimulator()
    port_number = free_port()
    server = uvicorn.Server(
        uvicorn.Config(sim, host="127.0.0.1", port=port_number, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_number}") as http:
            port = VapiVoice(http=http, api_key=sim.api_key, phone_number_id="pn-1")
            call = await port.start_call(CallRequest(PATIENT, ASSISTANT))
            ended = await port.end_call(call.id)
        assert ended.status is CallStatus.ENDED
    finally:
        server.should_exit = True
        await task
