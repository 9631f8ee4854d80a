"""
A relay process for the crash test: drains a SQLite outbox into the vendor simulator.

Usage: ``python relay_worker.py OUTBOX_FILE SIMULATOR_URL LEASE_SECONDS``. Exits 0 once nothing
is pending. Its payment port speaks HTTP to the simulator with the command's idempotency key.
"""

from __future__ import annotations

import asyncio
import sys

import httpx

from adapters.outbox.relay import OutboxRelay
from adapters.outbox.sqlite import SqliteOutbox
from domain.errors import Unavailable
from domain.payments import PaymentIntent, PaymentRequest, PaymentStatus


class SimulatorPayments:
    """Just enough of PaymentPort for the relay: create_payment_intent over HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_payment_intent(self, request: PaymentRequest) -> PaymentIntent:
        patient, _, n = request.description.partition("#")
        try:
            response = await self.client.post(
                "/v1/payment_intents",
                json={"patient": patient, "n": int(n), "amount": request.amount.amount_minor},
                headers={"Idempotency-Key": request.idempotency_key.value},
            )
        except httpx.TransportError as err:
            raise Unavailable(type(err).__name__, integration="simulator") from err
        response.raise_for_status()
        data = response.json()
        return PaymentIntent(data["id"], PaymentStatus.REQUIRES_PAYMENT_METHOD, request.amount)


async def main(path: str, url: str, lease: float) -> None:
    box = SqliteOutbox(path)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        relay = OutboxRelay(
            box,
            payments=SimulatorPayments(client),  # type: ignore[arg-type]
            lease_seconds=lease,
            idle_delay=0.05,
            batch_size=32,
        )
        await relay.run(until_idle=True)
    await box.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
