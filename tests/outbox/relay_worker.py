"""
A relay process for the crash test: drains a SQLite outbox into Stripe through `StripePayments`.

Usage: ``python relay_worker.py OUTBOX_FILE STRIPE_BASE_URL LEASE_SECONDS``. The real adapter
speaks Stripe's wire format (form bodies, ``Idempotency-Key``, error mapping to domain errors) to
the Stripe simulator. Exits 0 once nothing is pending.
"""

from __future__ import annotations

import asyncio
import sys

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.stripe.adapter import StripePayments
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.ports.execute import CommandPorts


API_KEY = "sk_test_simulated"  # the Stripe simulator's default key


async def main(path: str, base_url: str, lease: float) -> None:
    """Relay until idle, then close the pool and the outbox."""
    box = SqliteOutbox(path, mode="existing")
    stripe = StripePayments.connect(API_KEY, base_url=base_url)
    settings = RelaySettings(lease_seconds=lease, idle_delay=0.05, batch_size=32)
    relay = OutboxRelay(box, CommandPorts(payments=stripe), settings)
    try:
        await relay.run(until_idle=True)
    finally:
        await stripe.aclose()
        await box.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
