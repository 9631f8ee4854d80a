"""Row mapping shared by the SQL outboxes: one column list, one row-to-entry function."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from ...domain.command_codec import encode_command
from ...domain.commands import Command
from ...domain.correlation import correlation_id
from ...domain.errors import Conflict, InvalidValue
from ...domain.outbox import EntryState, IntegrationBacklog, OutboxEntry, OutboxStatus
from ..telemetry import current_trace_context


__all__ = [
    "ADDED_COLUMNS",
    "COLUMNS",
    "INSERTED",
    "MODES",
    "NewRow",
    "OpenMode",
    "OutboxNotFound",
    "backlog",
    "check_table_name",
    "conflict",
    "held",
    "new_row",
    "previous_holder",
    "selected",
    "to_entry",
]

COLUMNS = (
    "id, seq, kind, integration, ordering_key, idempotency_key, payload, state, attempts, "
    "enqueued_at, available_at, lease_token, lease_until, last_error, finished_at, "
    "trace_context, correlation_id"
)
# Columns later versions added (nullable TEXT): a table of an earlier version gains them when a
# writer opens it; a read-only view of one not upgraded yet reads NULL in their place.
ADDED_COLUMNS = ("trace_context", "correlation_id")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")
# Reasons and errors are stored for operators; cap them so a vendor's essay cannot bloat a row.
MAX_REASON = 2000


def check_table_name(name: str) -> str:
    """Allow only plain (optionally schema-qualified) identifiers: they are spliced into SQL."""
    if not _TABLE.fullmatch(name):
        raise InvalidValue("outbox.table", "must be an identifier like portico_outbox or s.t")
    return name


OpenMode = Literal["create", "existing", "read_only"]
MODES: tuple[OpenMode, ...] = ("create", "existing", "read_only")


class OutboxNotFound(FileNotFoundError):
    """The outbox (file or table) does not exist yet and the store was opened without creating."""


NewRow = tuple[str, str, str, str, str, str, float, float, str | None, str | None]
INSERTED = (
    "id, kind, integration, ordering_key, idempotency_key, payload, enqueued_at, available_at, "
    "trace_context, correlation_id"
)


def new_row(command: Command, now: float, delay: float) -> NewRow:
    """
    The values of a fresh pending row, in `INSERTED` order: id, kind, integration, order, key,
    payload, times, and the enqueuer's trace context and correlation id (None outside them).
    """
    return (
        uuid.uuid4().hex,
        command.kind,
        command.integration,
        command.ordering_key,
        command.idempotency_key.value,
        encode_command(command),
        now,
        now + max(delay, 0.0),
        current_trace_context(),
        correlation_id(),
    )


def selected(present: Iterable[str]) -> str:
    """`COLUMNS` for a table with only ``present`` of `ADDED_COLUMNS`: NULL for the others."""
    have = set(present)
    if have >= set(ADDED_COLUMNS):
        return COLUMNS
    cols = [c.strip() for c in COLUMNS.split(",")]
    return ", ".join(c if c not in ADDED_COLUMNS or c in have else f"NULL AS {c}" for c in cols)


def conflict() -> Conflict:
    """The error for an idempotency key already stored with a different command."""
    return Conflict("idempotency key already stored with a different command", integration="outbox")


# Lease tokens: ``<own>`` or, for a claim made after a lease expired, ``<own>:<previous own>``.
# A lease-expiry dead letter keeps ``<previous own>``, so the relay whose lease ran out while it was
# still sending can still record the delivery it proves (`mark_delivered`), instead of leaving
# the row "dead, maybe sent". Both stores make tokens in SQL, in the claim's statement.


def held(token: str) -> str:
    """The holder's own part of a token."""
    return token.partition(":")[0]


def previous_holder(entry: OutboxEntry) -> str | None:
    """What a dead letter keeps: the token of the holder whose lease expired, if any."""
    if not entry.lease_expired or entry.lease_token is None:
        return None
    return entry.lease_token.partition(":")[2] or None


def clip(text: str) -> str:
    """A reason or error cut to what the outbox stores."""
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def clip_or_none(text: str | None) -> str | None:
    """`clip`, passing None through (an error left as it was)."""
    return None if text is None else clip(text)


def to_entry(row: Sequence[Any], *, lease_expired: bool = False) -> OutboxEntry:
    """One row, in `COLUMNS` order, as an entry (``lease_expired``: see `OutboxEntry`)."""
    return OutboxEntry(
        id=row[0],
        seq=int(row[1]),
        kind=row[2],
        integration=row[3],
        ordering_key=row[4],
        idempotency_key=row[5],
        payload=row[6],
        state=EntryState(row[7]),
        attempts=int(row[8]),
        enqueued_at=float(row[9]),
        available_at=float(row[10]),
        lease_token=row[11],
        lease_until=None if row[12] is None else float(row[12]),
        last_error=row[13],
        finished_at=None if row[14] is None else float(row[14]),
        lease_expired=lease_expired,
        trace_context=row[15],
        correlation_id=row[16],
    )


def backlog(now: float, rows: Iterable[Sequence[Any]]) -> OutboxStatus:
    """
    Assemble the status from ``(integration, state, count, leased, oldest)`` group rows.

    ``leased`` counts pending rows whose lease is still running at ``now``.
    """
    acc: dict[str, dict[str, Any]] = {}
    for integration, state, count, leased, oldest in rows:
        b = acc.setdefault(integration, {"integration": integration})
        b[state] = int(count)
        if state == EntryState.PENDING.value:
            b["in_flight"] = int(leased or 0)
            b["oldest_pending_at"] = None if oldest is None else float(oldest)
    return OutboxStatus(
        now=now,
        integrations=tuple(IntegrationBacklog(**acc[name]) for name in sorted(acc)),
    )
