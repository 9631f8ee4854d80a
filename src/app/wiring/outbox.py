"""
Build the configured outbox and relay from the container's configuration.

``outbox.kind``: ``sqlite`` (default; ``outbox.path``) or ``postgres`` (``outbox.postgres_url``,
required). ``outbox.table`` names the table for both. The default SQLite file depends on the
environment (`DEFAULT_SQLITE_PATHS`): a ``fake`` run must never share the production file, or
``portico relay`` with the in-memory fakes would "deliver" real commands into them.
``outbox.settle_delay`` (seconds, default 60) is how long an unknown send-now outcome waits in the
outbox before the relay retries it (see `app.services.outbox_dispatch`).
``outbox.lease_seconds`` (default 120) is how long a relay's claim is exclusive (`RelaySettings`);
it must exceed every port pipeline's worst case (`Pipeline.worst_case_seconds`: see
`app.wiring.leases`), or building the relay fails naming the integration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from ...adapters.outbox.sqlite import OpenMode, SqliteOutbox
from ...ports.execute import PORTS, CommandPorts
from ...ports.outbox import Outbox
from ..services.outbox_relay import OutboxRelay, RelayStats
from ..services.relay_settings import DEFAULT_LEASE_SECONDS, RelaySettings
from .leases import check_relay_lease, pipelines_of


__all__ = [
    "DEFAULT_SETTLE_DELAY",
    "DEFAULT_SQLITE_PATH",
    "DEFAULT_SQLITE_PATHS",
    "build_outbox",
    "build_relay",
    "command_ports",
    "describe",
    "outbox_settings",
    "relay_settings",
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


def relay_settings(config: Mapping[str, Any]) -> RelaySettings:
    """The relay's settings: ``outbox.lease_seconds`` (120 unless configured), else defaults."""
    return RelaySettings(lease_seconds=float(outbox_settings(config)["lease_seconds"]))


def build_outbox(config: Mapping[str, Any], *, mode: OpenMode = "create") -> Outbox:
    """
    The outbox ``config`` asks for (PostgreSQL needs the ``postgres`` extra: psycopg).

    ``mode`` ``read_only`` or ``existing`` is for operator commands: they must never create a
    store (see `SqliteOutbox`).
    """
    settings = outbox_settings(config)
    if settings["kind"] == "postgres":
        from ...adapters.outbox.postgres import PostgresOutbox

        return PostgresOutbox(str(settings["postgres_url"]), table=settings["table"], mode=mode)
    return SqliteOutbox(settings["path"], table=settings["table"], mode=mode)


def describe(outbox: Outbox) -> str:
    """Where ``outbox`` keeps its commands (absolute path or server and table; no secrets)."""
    location = getattr(outbox, "location", None)
    return f"{type(outbox).__name__} at {location}" if location else type(outbox).__name__


def build_relay(
    outbox: Outbox,
    ports: CommandPorts,
    *,
    settings: RelaySettings | None = None,
    on_progress: Callable[[RelayStats], None] | None = None,
) -> OutboxRelay:
    """
    A relay over the resilient ``ports``.

    Raises:
        ValueError: a port's pipeline could outlast the lease (`app.wiring.leases`).
    """
    settings = settings if settings is not None else RelaySettings()
    check_relay_lease(settings.lease_seconds, pipelines_of(ports.values()))
    return OutboxRelay(outbox, ports, settings, on_progress=on_progress)


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
