"""
Builds the outbox relay over the container's resilient ports (the stores are in `stores`).

``outbox.lease_seconds`` (default 120) is how long a relay's claim is exclusive; it must exceed
every port pipeline's worst case (timeout x attempts + backoff, capped by the retry deadline: see
`adapters.outbox.lease`), or building the relay fails naming the integration.
``outbox.settle_delay`` (seconds, default 60) is how long an unknown send-now outcome waits in the
outbox before the relay retries it (see `app.services.outbox_dispatch`).
"""

from __future__ import annotations

from ...adapters.outbox.lease import DEFAULT_LEASE_SECONDS
from ...adapters.outbox.relay import OutboxRelay
from ...ports.execute import CommandPorts
from ...ports.outbox import Outbox


__all__ = ["build_relay"]


def build_relay(
    outbox: Outbox, ports: CommandPorts, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> OutboxRelay:
    """A relay over the enabled ports; ValueError when a port could outlast the lease."""
    return OutboxRelay(
        outbox,
        messaging=ports.messaging,
        crm=ports.crm,
        payments=ports.payments,
        voice=ports.voice,
        lease_seconds=lease_seconds,
    )
