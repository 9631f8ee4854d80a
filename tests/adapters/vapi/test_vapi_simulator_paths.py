"""The Vapi adapter against `VapiSimulator` for the statuses and control rules of issue 12.

References: ``Call.status`` enum and ``MonitorPlan.controlAuthenticationEnabled`` in VapiAI/docs
``fern/apis/api/openapi.json``.
"""

from __future__ import annotations

import httpx
import pytest
from tests.simulators.vapi import VapiSimulator

from portico.adapters.vapi import VapiVoice
from portico.domain.errors import AuthenticationFailed
from portico.domain.values import PhoneNumber
from portico.domain.voice import CallRequest, CallStatus


PHONE_ID = "42b4b25d-031e-4786-857f-63b346c9580f"
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"


def _adapter(sim: VapiSimulator, public_key: str | None = None) -> VapiVoice:
    http = httpx.AsyncClient(base_url="https://api.vapi.ai", transport=httpx.ASGITransport(app=sim))
    return VapiVoice(
        http=http, api_key=sim.api_key, phone_number_id=PHONE_ID, public_key=public_key
    )


def _request(number: str = "+6834002") -> CallRequest:
    return CallRequest(to=PhoneNumber(number), assistant_id=ASSISTANT)


async def test_a_seven_digit_number_is_dialled() -> None:
    """Niue's +683 4002 is valid E.164 and Vapi takes it."""
    sim = VapiSimulator(phone_numbers={PHONE_ID})
    adapter = _adapter(sim)
    call = await adapter.start_call(_request())
    assert call.status is CallStatus.QUEUED
    await adapter.aclose()


@pytest.mark.parametrize("status", ["not-found", "deletion-failed"])
async def test_final_statuses_from_the_simulator_read_and_end_nothing(status: str) -> None:
    sim = VapiSimulator(phone_numbers={PHONE_ID})
    adapter = _adapter(sim)
    call = await adapter.start_call(_request("+40712345678"))
    sim.progress(call.id, status)
    assert (await adapter.get_call(call.id)).status is CallStatus(status)
    assert (await adapter.end_call(call.id)).status is CallStatus(status)
    assert sim.controls == []
    await adapter.aclose()


async def test_an_authenticated_control_url_needs_the_public_key() -> None:
    """With controlAuthenticationEnabled, hang-up without the public key is refused (401)."""
    sim = VapiSimulator(phone_numbers={PHONE_ID}, control_public_key="vapi-public")
    without = _adapter(sim)
    call = await without.start_call(_request("+40712345678"))
    sim.progress(call.id, "in-progress")
    with pytest.raises(AuthenticationFailed):
        await without.end_call(call.id)
    assert sim.calls[call.id]["status"] == "in-progress"
    with_key = _adapter(sim, public_key="vapi-public")
    ended = await with_key.end_call(call.id)
    assert ended.status is CallStatus.ENDED
    await without.aclose()
    await with_key.aclose()
