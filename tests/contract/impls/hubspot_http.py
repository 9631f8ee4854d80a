"""`HubSpotCRM` under the CRM contract, against the HubSpot simulator, as ``hubspot-http``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from portico.adapters.hubspot import DEFAULT_DEAL_STAGES, HubSpotCRM
from portico.domain.crm import DealStage
from tests.contract.harness import Harness, Registry
from tests.simulators.hubspot import HubSpotSimulator


SEARCH_LAG = 3  # search requests a write stays invisible to


@attrs.frozen
class HubSpotControls:
    """The portal's settings, played by the simulator."""

    simulator: HubSpotSimulator

    async def refuse_property(self, name: str) -> None:
        """The portal has no contact property ``name``."""
        self.simulator.refuse_property(name)

    async def index_search(self) -> None:
        """HubSpot's search catches up with the writes made so far."""
        self.simulator.index_search()

    async def remove_stage(self, stage: DealStage) -> None:
        """The portal's default pipeline loses the stage id the adapter maps ``stage`` to."""
        self.simulator.stages = self.simulator.stages - {DEFAULT_DEAL_STAGES[stage]}


@asynccontextmanager
async def hubspot_harness() -> AsyncIterator[Harness[Any]]:
    """The real adapter over httpx, the vendor played by the ASGI simulator."""
    # Search lags as HubSpot's does: a write is invisible to the next searches unless a test
    # lets the index catch up (`HubSpotControls.index_search`).
    simulator = HubSpotSimulator(token="pat-na1-contract", search_lag=SEARCH_LAG)
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com") as http:
        yield Harness(HubSpotCRM(http=http, token="pat-na1-contract"), HubSpotControls(simulator))


FACTORIES: Registry = {"crm": {"hubspot-http": hubspot_harness}}
