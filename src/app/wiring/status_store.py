"""
Builds the delivery-status store that WhatsApp's ``get_status`` reads and status webhooks feed.

Statuses arrive in the process that serves webhooks (``portico serve``) while the application or
the relay asks in another, so both must open the same store: each process builds its messaging
adapter from the same configuration, hence the same store::

    messaging:
      status_store: {kind: sqlite, path: ./portico-status.sqlite3}  # the default
      # or {kind: redis, url: redis://...}, or memory (one process only: tests, demos)
      # optional: retention_seconds (default 30 days)

(``PORTICO_MESSAGING__STATUS_STORE__KIND=redis``, ``..._URL=...``; a bare string names the kind.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...adapters.whatsapp.status_log import MemoryDeliveryStatusStore
from ...adapters.whatsapp.status_sqlite import DEFAULT_RETENTION_SECONDS, SQLiteDeliveryStatusStore
from ...domain.errors import ConfigurationError
from ...ports.delivery_status import DeliveryStatusStore


__all__ = ["DEFAULT_STATUS_PATH", "STATUS_STORE_KINDS", "build_status_store"]

DEFAULT_STATUS_PATH = "./portico-status.sqlite3"
STATUS_STORE_KINDS = ("memory", "sqlite", "redis")
_WHERE = "messaging.status_store"


def _settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    messaging = config.get("messaging")
    raw = messaging.get("status_store") if isinstance(messaging, Mapping) else None
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        return {"kind": raw}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{_WHERE} must be a mapping or a kind name")
    return raw


def _retention(settings: Mapping[str, Any]) -> float:
    raw = settings.get("retention_seconds")
    if raw is None or raw == "":
        return DEFAULT_RETENTION_SECONDS
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{_WHERE}.retention_seconds must be a number") from None
    if not value > 0:
        raise ConfigurationError(f"{_WHERE}.retention_seconds must be positive")
    return value


def build_status_store(config: Mapping[str, Any]) -> DeliveryStatusStore:
    """
    The store ``messaging.status_store`` names (default: SQLite at `DEFAULT_STATUS_PATH`).

    Nothing is opened here: the SQLite file is created, and Redis connected, on first use.

    Raises:
        ConfigurationError: an unknown kind, a Redis kind without a URL, a bad retention.
    """
    settings = _settings(config)
    kind = str(settings.get("kind") or "sqlite").strip().lower()
    retention = _retention(settings)
    if kind == "memory":
        return MemoryDeliveryStatusStore()
    if kind == "sqlite":
        path = str(settings.get("path") or DEFAULT_STATUS_PATH)
        return SQLiteDeliveryStatusStore(path, retention_seconds=retention)
    if kind == "redis":
        url = settings.get("url")
        if not url:
            raise ConfigurationError(f"{_WHERE}.url is required when {_WHERE}.kind is redis")
        from ...adapters.whatsapp.status_redis import RedisDeliveryStatusStore  # only when used

        return RedisDeliveryStatusStore(str(url), retention_seconds=retention)
    raise ConfigurationError(f"{_WHERE}.kind must be one of {', '.join(STATUS_STORE_KINDS)}")
