"""
A relay process for the crash test: drains an outbox into Stripe through `StripePayments`.

Usage: ``python relay_worker.py OUTBOX STRIPE_BASE_URL LEASE_SECONDS PER_KEY [TABLE]``, where
OUTBOX is a SQLite file or a ``postgresql://`` URL (its table TABLE). The real adapter speaks
Stripe's wire format (form bodies, ``Idempotency-Key``, error mapping to domain errors) to the
Stripe simulator. Exits 0 once nothing is pending.
"""

from __future__ import annotations

import asyncio
import sys

from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.stripe.adapter import StripePayments
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.ports.execute import CommandPorts
from portico.ports.outbox import Outbox


API_KEY = "sk_test_simulated"  # the Stripe simulator's default key


async def main(where: str, base_url: str, lease: float, per_key: int, table: str) -> None:
    """Relay until idle, then close the pool and the outbox."""
    box: Outbox
    if where.startswith("postgresql://"):
        box = PostgresOutbox(where, table=table, mode="existing")
    else:
        box = SqliteOutbox(where, mode="existing")
    stripe = StripePayments.connect(API_KEY, base_url=base_url)
    settings = RelaySettings(lease_seconds=lease, idle_delay=0.05, batch_size=32, per_key=per_key)
    relay = OutboxRelay(box, CommandPorts(payments=stripe), settings)
    try:
        await relay.run(until_idle=True)
    finally:
        await stripe.aclose()
        await box.close()


if __name__ == "__main__":
    table = sys.argv[5] if len(sys.argv) > 5 else "portico_outbox"
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), table))
