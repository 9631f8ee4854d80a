"""
Store failures as the domain's `Unavailable`, so callers never see sqlite3 or psycopg types.

The message names neither the path nor the SQL; the detail (the driver's error class, its primary
message and code, where the store is) goes to the log at WARNING. Never a row's values: sqlite3
messages do not quote them, and for psycopg only ``diag.message_primary`` is logged (its
``DETAIL`` may quote a key).
"""

from __future__ import annotations

import logging

from ...domain.errors import Unavailable


__all__ = ["store_unavailable"]

log = logging.getLogger("portico.outbox")


def store_unavailable(
    backend: str, err: BaseException, *, where: str, detail: str, code: str | None = None
) -> Unavailable:
    """
    The `Unavailable` to raise for a failed store call (``request_sent=False``: nothing was sent).

    Args:
        backend: ``sqlite`` or ``postgresql``.
        err: the driver's error. where: the store's location (no credentials).
        detail: a message safe to log. code: a SQLSTATE, when there is one.
    """
    log.warning(
        "outbox: %s store at %s failed: %s: %s%s",
        backend,
        where,
        type(err).__name__,
        detail,
        f" [{code}]" if code else "",
    )
    return Unavailable(
        f"the outbox store ({backend}) is unavailable: {type(err).__name__}",
        integration="outbox",
        request_sent=False,
        vendor_code=code,
    )
