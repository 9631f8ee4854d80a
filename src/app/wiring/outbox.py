"""
Build the configured outbox and relay from the container's configuration.

``outbox.kind``: ``sqlite`` (default; ``outbox.path``) or ``postgres`` (``outbox.postgres_url``,
required). ``outbox.table`` names the table for both. The default SQLite file depends on the
environment (`DEFAULT_SQLITE_PATHS`): a ``fake`` run must never share the production file, or
``portico relay`` with the in-memory fakes would "deliver" real commands into them.
``outbox.settle_delay`` (seconds, default 60) is how long an unknown send-now outcome waits in the
outbox before the relay retries it (see `app.services.outbox_dispatch`).
``outbox.lease_seconds`` (default 120) is how long a relay's claim is exclusive; it must exceed
every port pipeline's worst case (timeout x attempts + backoff, capped by ``retry_deadline``: see
`adapters.outbox.lease`), or building the relay fails naming the integration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...adapters.outbox.lease import DEFAULT_LEASE_SECONDS
from ...adapters.outbox.relay import OutboxRelay
from ...adapters.outbox.sqlite import OpenMode, SqliteOutbox
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.crm import CRMPort
from ...ports.execute import CommandPorts
from ...ports.messaging import MessagingPort
from ...ports.outbox import Outbox
from ...ports.payments import PaymentPort
from ...ports.voice import VoicePort


__all__ = [
    "DEFAULT_SETTLE_DELAY",
    "DEFAULT_SQLITE_PATH",
    "DEFAULT_SQLITE_PATHS",
    "build_outbox",
    "build_relay",
    "command_ports",
    "describe",
    "lease_seconds",
    "outbox_settings",
    "settle_delay",
]

DEFAULT_SQLITE_PATH = "./portico-outbox.sqlite3"
DEFAULT_SQLITE_PATHS: Mapping[str, str] = {
    "fake": "./portico-outbox.fake.sqlite3",
    "sandbox": "./portico-outbox.sandbox.sqlite3",
    "production": DEFAULT_SQLITE_PATH,
}
DEFAULT_SETTLE_DELAY = 60.0


def _settle_delay(raw: object) -> float:
    try:
        value = DEFAULT_SETTLE_DELAY if raw is None or raw == "" else float(str(raw))
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise ValueError("outbox.settle_delay must be seconds between 0 and 86400")
    return value


def _lease_seconds(raw: object) -> float:
    try:
        value = DEFAULT_LEASE_SECONDS if raw is None or raw == "" else float(str(raw))
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise ValueError("outbox.lease_seconds must be seconds above 0 and at most 86400")
    return value


def outbox_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``outbox`` section with defaults applied; ValueError names a bad key."""
    section = dict(config.get("outbox") or {})
    kind = str(section.get("kind") or "sqlite").strip().lower()
    if kind not in ("sqlite", "postgres"):
        raise ValueError("outbox.kind must be 'sqlite' or 'postgres' (PORTICO_OUTBOX__KIND)")
    environment = str(config.get("environment") or "fake").strip().lower()
    settings = {
        "kind": kind,
        "environment": environment,
        "table": str(section.get("table") or "portico_outbox"),
        "path": str(section.get("path") or DEFAULT_SQLITE_PATHS.get(environment, "")),
        "postgres_url": section.get("postgres_url"),
        "settle_delay": _settle_delay(section.get("settle_delay")),
        "lease_seconds": _lease_seconds(section.get("lease_seconds")),
    }
    if kind == "sqlite" and not settings["path"]:
        raise ValueError("outbox.path is required for an unknown environment")
    if kind == "postgres" and not settings["postgres_url"]:
        raise ValueError("outbox.postgres_url is required when outbox.kind is 'postgres'")
    return settings


def settle_delay(config: Mapping[str, Any]) -> float:
    """``outbox.settle_delay`` for `OutboxDispatch` (seconds; 60 unless configured)."""
    return float(outbox_settings(config)["settle_delay"])


def lease_seconds(config: Mapping[str, Any]) -> float:
    """``outbox.lease_seconds`` for the relay (seconds; 120 unless configured)."""
    return float(outbox_settings(config)["lease_seconds"])


def build_outbox(
    config: Mapping[str, Any], *, mode: OpenMode = "create", clock: Clock = SYSTEM_CLOCK
) -> Outbox:
    """
    The outbox ``config`` asks for (PostgreSQL needs the ``postgres`` extra: psycopg).

    ``mode`` ``read_only`` or ``existing`` is for operator commands: they must never create a
    store (see `SqliteOutbox`). ``clock`` stamps enqueue and due times; PostgreSQL's leases
    keep the database's clock unless it is another than the system's.
    """
    settings = outbox_settings(config)
    if settings["kind"] == "postgres":
        from ...adapters.outbox.postgres import PostgresOutbox

        return PostgresOutbox(
            str(settings["postgres_url"]),
            table=settings["table"],
            mode=mode,
            clock=None if clock is SYSTEM_CLOCK else clock,
        )
    return SqliteOutbox(settings["path"], table=settings["table"], mode=mode, clock=clock)


def describe(outbox: Outbox) -> str:
    """Where ``outbox`` keeps its commands (absolute path or server and table; no secrets)."""
    location = getattr(outbox, "location", None)
    return f"{type(outbox).__name__} at {location}" if location else type(outbox).__name__


def build_relay(
    outbox: Outbox,
    messaging: MessagingPort,
    crm: CRMPort,
    payments: PaymentPort,
    voice: VoicePort,
    *,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Clock = SYSTEM_CLOCK,
) -> OutboxRelay:
    """A relay over the resilient ports; ValueError when a port could outlast the lease."""
    return OutboxRelay(
        outbox,
        messaging=messaging,
        crm=crm,
        payments=payments,
        voice=voice,
        lease_seconds=lease_seconds,
        clock=clock,
    )


def command_ports(
    messaging: MessagingPort, crm: CRMPort, payments: PaymentPort, voice: VoicePort
) -> CommandPorts:
    """The ports bundle send-now uses."""
    return CommandPorts(messaging, crm, payments, voice)
