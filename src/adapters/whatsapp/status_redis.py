"""
The distributed delivery-status store: Redis, for senders and webhook workers on many hosts.

One key per message (``<prefix><message id>`` holding the status value) with a TTL refreshed on
every report, so Redis bounds the store by age. A small Lua script reads the current status and
overwrites it only when the report moves the message forward, in one atomic step: concurrent
reports from any number of workers end on the furthest status. The rank table in the script is
generated from `DeliveryStatus`, so it cannot drift from the domain's order.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from ...domain.messaging import DeliveryStatus
from ...ports.delivery_status import DeliveryStatusStore, TextFallbackStore
from ..redis_keys import DEFAULT_CONNECT_TIMEOUT, DEFAULT_SOCKET_TIMEOUT, RedisKeyStore
from .status_log import stored_status


__all__ = ["DEFAULT_RETENTION_SECONDS", "RedisDeliveryStatusStore"]

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600.0
# A status key is "<prefix><message id>"; a wamid never starts with this, so the two never meet.
_FALLBACK = "fallback:"

_RANKS = ", ".join(f"['{s.value}'] = {s.rank}" for s in DeliveryStatus)
_FINALS = ", ".join(f"['{s.value}'] = true" for s in DeliveryStatus if s.is_final())

# KEYS[1] the message's key; ARGV[1] the reported status, ARGV[2] the TTL in ms.
# Returns the status now on record. An unknown stored value is overwritten.
_RECORD = f"""
local ranks = {{{_RANKS}}}
local finals = {{{_FINALS}}}
local current = redis.call('GET', KEYS[1])
if (not current) or ranks[current] == nil
    or ((not finals[current]) and ranks[ARGV[1]] > ranks[current]) then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return ARGV[1]
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return current
"""


class RedisDeliveryStatusStore(RedisKeyStore, DeliveryStatusStore, TextFallbackStore):
    """
    `DeliveryStatusStore` in Redis, from a ``url`` or an existing ``redis.asyncio`` client.

    Text fallbacks (`TextFallbackStore`) live beside the statuses under ``<prefix>fallback:<id>``
    with the same retention.

    Args:
        url: ``redis://host:port/db``; the store then owns (and `close` closes) its client.
        client: a client to share instead (left open by `close`).
        prefix: namespace of the keys, so several apps can share one Redis.
        retention_seconds: how long an untouched message is remembered (default 30 days).
        max_connections: size of the pool built from ``url``.
        socket_timeout, connect_timeout: seconds a read or write, and connecting, may take on a
            client built from ``url``.
    """

    INTEGRATION = "status_store"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "portico:status:",
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        max_connections: int = 50,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        super().__init__(
            url,
            client,
            prefix=prefix,
            retention_seconds=retention_seconds,
            max_connections=max_connections,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
        )
        self._record_script: Any = self._script(_RECORD)

    async def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        """Apply one status report atomically (forward-only); returns the status on record."""
        result = await self._record_script(
            keys=[self.redis_key(message_id)], args=[status.value, self._retention_ms]
        )
        return stored_status(result)

    async def get(self, message_id: str) -> DeliveryStatus | None:
        """The furthest status recorded for ``message_id``, or None (unknown or expired)."""
        raw = await self._client.get(self.redis_key(message_id))
        return None if raw is None else stored_status(raw)

    async def remember_fallback(self, message_id: str, command: str) -> None:
        """Keep ``command`` for ``message_id`` for the retention period."""
        await self._client.set(
            self.redis_key(_FALLBACK + message_id), command, px=self._retention_ms
        )

    async def fallback_for(self, message_id: str) -> str | None:
        """The command kept for ``message_id``, or None (never kept, or expired)."""
        raw = await self._client.get(self.redis_key(_FALLBACK + message_id))
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)
