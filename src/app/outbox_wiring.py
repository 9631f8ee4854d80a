"""
Build the configured outbox and relay from the container's configuration.

``outbox.kind``: ``sqlite`` (default; ``outbox.path``, default ``./portico-outbox.sqlite3``) or
``postgres`` (``outbox.postgres_url``, required). ``outbox.table`` names the table for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.outbox.relay import OutboxRelay
from adapters.outbox.sqlite import SqliteOutbox
from ports.crm import CRMPort
from ports.execute import CommandPorts
from ports.messaging import MessagingPort
from ports.outbox import Outbox
from ports.payments import PaymentPort
from ports.voice import VoicePort


__all__ = [
    "DEFAULT_SQLITE_PATH",
    "build_outbox",
    "build_relay",
    "command_ports",
    "outbox_settings",
]

DEFAULT_SQLITE_PATH = "./portico-outbox.sqlite3"


def outbox_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``outbox`` section with defaults applied; ValueError names a bad key."""
    section = dict(config.get("outbox") or {})
    kind = str(section.get("kind") or "sqlite").strip().lower()
    if kind not in ("sqlite", "postgres"):
        raise ValueError("outbox.kind must be 'sqlite' or 'postgres' (PORTICO_OUTBOX__KIND)")
    settings = {
        "kind": kind,
        "table": str(section.get("table") or "portico_outbox"),
        "path": str(section.get("path") or DEFAULT_SQLITE_PATH),
        "postgres_url": section.get("postgres_url"),
    }
    if kind == "postgres" and not settings["postgres_url"]:
        raise ValueError("outbox.postgres_url is required when outbox.kind is 'postgres'")
    return settings


def build_outbox(config: Mapping[str, Any]) -> Outbox:
    """The outbox ``config`` asks for (PostgreSQL needs the ``postgres`` extra: psycopg)."""
    settings = outbox_settings(config)
    if settings["kind"] == "postgres":
        from adapters.outbox.postgres import PostgresOutbox

        return PostgresOutbox(str(settings["postgres_url"]), table=settings["table"])
    return SqliteOutbox(settings["path"], table=settings["table"])


def build_relay(
    outbox: Outbox,
    messaging: MessagingPort,
    crm: CRMPort,
    payments: PaymentPort,
    voice: VoicePort,
) -> OutboxRelay:
    """A relay over the resilient ports."""
    return OutboxRelay(outbox, messaging=messaging, crm=crm, payments=payments, voice=voice)


def command_ports(
    messaging: MessagingPort, crm: CRMPort, payments: PaymentPort, voice: VoicePort
) -> CommandPorts:
    """The ports bundle send-now uses."""
    return CommandPorts(messaging, crm, payments, voice)
