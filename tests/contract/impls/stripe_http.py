"""`StripePayments` under the payments contract, against the simulator, as ``stripe-http``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from portico.adapters.stripe import StripePayments
from tests.contract.harness import Harness, Registry
from tests.simulators.stripe import StripeSimulator


@attrs.frozen
class StripeControls:
    """The patient paying at Stripe, played by the simulator."""

    simulator: StripeSimulator

    async def pay(self, intent_id: str) -> None:
        """Pay the intent in full."""
        self.simulator.pay(intent_id)


@asynccontextmanager
async def stripe_harness() -> AsyncIterator[Harness[Any]]:
    """The real adapter over httpx, the vendor played by the ASGI simulator."""
    simulator = StripeSimulator(api_key="sk_test_contract")
    transport = httpx.ASGITransport(app=simulator)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.stripe.com") as http:
        yield Harness(
            StripePayments(http=http, api_key="sk_test_contract"), StripeControls(simulator)
        )


FACTORIES: Registry = {"payments": {"stripe-http": stripe_harness}}
