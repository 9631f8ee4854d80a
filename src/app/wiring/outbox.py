"""
Builds the outbox relay over the container's resilient ports (the stores are in `stores`).

``outbox.lease_seconds`` (default 120) is how long a relay's claim is exclusive (`RelaySettings`);
it must exceed every port pipeline's worst case (`Pipeline.worst_case_seconds`: see
`app.wiring.leases`), or building the relay fails naming the integration.
``outbox.per_key`` (default 8) is how many consecutive commands of one recipient a claim takes;
the relay sends them one after another, each later one only while the lease has room for one more
call at the slowest pipeline's worst case (`relay_send_bound`).
``outbox.delivered_retention`` (seconds, default 7 days) is how long the relay keeps delivered
commands before purging them in small batches (`OutboxRelay.purge_delivered`).
``outbox.settle_delay`` (seconds, default 60) is how long an unknown send-now outcome waits in the
outbox before the relay retries it (see `app.services.outbox_dispatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ...adapters.telemetry import OutboxDeliverySpans
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.execute import PORTS, CommandPorts
from ...ports.outbox import DeliveryObserver, Outbox
from ..services.outbox_relay import OutboxRelay, RelayStats
from ..services.relay_settings import RelaySettings
from .leases import check_relay_lease, pipelines_of, relay_send_bound
from .settings import OutboxSettings


__all__ = ["build_relay", "command_ports", "relay_settings"]


def relay_settings(section: OutboxSettings, **overrides: Any) -> RelaySettings:
    """The relay's knobs from the ``outbox`` section (lease, runs, retention), and ``overrides``."""
    return RelaySettings(
        lease_seconds=section.lease_seconds,
        per_key=section.per_key,
        delivered_retention=section.delivered_retention,
        **overrides,
    )


def build_relay(
    outbox: Outbox,
    ports: CommandPorts,
    *,
    settings: RelaySettings | None = None,
    on_progress: Callable[[RelayStats], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    observer: DeliveryObserver | None = None,
) -> OutboxRelay:
    """
    A relay over the resilient ``ports``, on ``clock`` (pauses, backoff waits, the call
    look-back), each delivery an ``outbox.deliver`` span while an OpenTelemetry SDK is installed
    (``observer``: `OutboxDeliverySpans` unless given).

    Raises:
        ValueError: a port's pipeline could outlast the lease (`app.wiring.leases`).
    """
    settings = settings if settings is not None else RelaySettings()
    pipelines = pipelines_of(ports.values())
    check_relay_lease(settings.lease_seconds, pipelines)
    return OutboxRelay(
        outbox,
        ports,
        settings,
        send_bound=relay_send_bound(pipelines),
        clock=clock,
        on_progress=on_progress,
        observer=observer if observer is not None else OutboxDeliverySpans(),
    )


def command_ports(**ports: object) -> CommandPorts:
    """
    The ports by integration name (`ports.execute.PORTS`), for the relay and send-now.

    A port given as None is left out (its integration is not served).

    Raises:
        ValueError: a name that is not a port's.
        TypeError: an object that does not implement the port of its name.
    """
    bundle: dict[str, object] = {}
    for name, port in ports.items():
        kind = PORTS.get(name)
        if kind is None:
            raise ValueError(f"{name}: not a port (known: {', '.join(PORTS)})")
        if port is None:
            continue
        if not isinstance(port, kind):
            raise TypeError(f"{name}: a {type(port).__name__} is not a {kind.__name__}")
        bundle[name] = port
    return cast(CommandPorts, bundle)
