"""`VapiVoice` over HTTP against `VapiSimulator`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from portico.adapters.vapi import VapiVoice
from portico.domain.voice import CallStatus
from tests.contract.harness import ASSISTANT_ID, Harness, Registry
from tests.simulators.vapi import VapiSimulator


PHONE_NUMBER_ID = "42b4b25d-031e-4786-857f-63b346c9580f"


@attrs.frozen
class VapiControls:
    """The phone line and the carrier behind it, played by the simulator."""

    sim: VapiSimulator

    async def progress(self, call_id: str, status: CallStatus) -> None:
        """Vapi reports ``status`` for the call."""
        self.sim.progress(call_id, status.value)

    async def refuse_number(self, phone: str) -> None:
        """The carrier will not dial ``phone``: Vapi answers 400."""
        self.sim.refuse_number(phone)


@asynccontextmanager
async def vapi_http() -> AsyncIterator[Harness[Any]]:
    """Vapi's REST API and Live Call Control on one simulated origin, one assistant."""
    sim = VapiSimulator(assistants={ASSISTANT_ID}, phone_numbers={PHONE_NUMBER_ID})
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(base_url="https://api.vapi.ai", transport=transport) as http:
        port = VapiVoice(http=http, api_key=sim.api_key, phone_number_id=PHONE_NUMBER_ID)
        yield Harness(port, VapiControls(sim))


FACTORIES: Registry = {"voice": {"vapi-http": vapi_http}}
