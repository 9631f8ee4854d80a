"""
Closing what a container opened: the adapters' HTTP clients, the outbox, the replay store.

`create_container` resolves the selected adapters at start-up; the outbox and the replay store are
singletons whose constructors open nothing (their connections are made on first use), so resolving
them here to close them costs nothing when they were never used. Whatever has an ``aclose`` (httpx
clients, the vendor adapters) or ``close`` (stores) is closed once, in reverse order of opening;
one failing close is logged by type and never stops the others.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import Any


__all__ = ["CLOSABLE_PROVIDERS", "aclose_container", "aclose_objects"]

logger = logging.getLogger("portico.lifecycle")

# The container's singletons that may hold a connection, a file, a thread or an HTTP client.
CLOSABLE_PROVIDERS = (
    "messaging_adapter",
    "crm_adapter",
    "payments_adapter",
    "voice_adapter",
    "outbox",
    "replay_store",
)


async def aclose_container(container: Any, *extra: object) -> int:
    """
    Close the container's closable singletons and ``extra`` objects; returns how many closed.

    Safe to call twice and on a container whose adapters are fakes (nothing to close).
    """
    found: list[object] = []
    for name in CLOSABLE_PROVIDERS:
        provider = getattr(container, name, None)
        if provider is None:
            continue
        try:
            found.append(provider())
        except Exception as exc:  # noqa: BLE001 - a provider that cannot build holds nothing open
            logger.debug("not closing %s: it cannot be built (%s)", name, type(exc).__name__)
    return await aclose_objects([*found, *extra])


async def aclose_objects(objects: Iterable[object]) -> int:
    """Close each distinct object once (``aclose`` preferred over ``close``), last first."""
    seen: set[int] = set()
    unique = []
    for obj in objects:
        if obj is not None and id(obj) not in seen:
            seen.add(id(obj))
            unique.append(obj)
    closed = 0
    for obj in reversed(unique):
        close = getattr(obj, "aclose", None) or getattr(obj, "close", None)
        if not callable(close):
            continue
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
            closed += 1
        except Exception as exc:  # noqa: BLE001 - shutting down: close the rest regardless
            logger.warning("closing %s failed (%s)", type(obj).__name__, type(exc).__name__)
    return closed
