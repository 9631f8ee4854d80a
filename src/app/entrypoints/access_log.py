"""
Uvicorn's access log without query strings.

Uvicorn logs ``"GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=...`` as received, so
Meta's subscription handshake would write the verify token (a secret) to every log sink. This
filter keeps method, path and status and drops the query; the access log stays useful.
"""

from __future__ import annotations

import logging
import re


__all__ = ["ACCESS_LOGGER", "DropQueryStrings", "install_access_log_filter"]

ACCESS_LOGGER = "uvicorn.access"
_QUERY = re.compile(r"\?[^\s\"']*")


class DropQueryStrings(logging.Filter):
    """Rewrites uvicorn access records so their path carries no ``?query``; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut the query from the path argument (uvicorn's third), in place."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (*args[:2], path, *args[3:])
        elif "?" in record.getMessage():  # some other shape: strip every query in the text
            record.msg = _QUERY.sub("", record.getMessage())
            record.args = None
        return True


def install_access_log_filter(logger: logging.Logger | None = None) -> DropQueryStrings:
    """Add `DropQueryStrings` to uvicorn's access logger once (idempotent); returns it."""
    target = logger or logging.getLogger(ACCESS_LOGGER)
    for existing in target.filters:
        if isinstance(existing, DropQueryStrings):
            return existing
    installed = DropQueryStrings()
    target.addFilter(installed)
    return installed
