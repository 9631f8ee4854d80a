"""
The distributed delivery-status store: Redis, for senders and webhook workers on many hosts.

One key per message (``<prefix><message id>`` holding the status value) with a TTL refreshed on
every report, so Redis bounds the store by age. A small Lua script reads the current status and
overwrites it only when the report moves the message forward, in one atomic step: concurrent
reports from any number of workers end on the furthest status. The rank table in the script is
generated from `DeliveryStatus`, so it cannot drift from the domain's order.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from redis.asyncio import BlockingConnectionPool, Redis

from domain.messaging import DeliveryStatus
from ports.delivery_status import DeliveryStatusStore


__all__ = ["DEFAULT_RETENTION_SECONDS", "RedisDeliveryStatusStore"]

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600.0

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


def _status(raw: bytes | str) -> DeliveryStatus:
    value = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return DeliveryStatus(value)
    except ValueError:
        msg = "the delivery-status store holds a status this version does not know"
        raise ValueError(msg) from None


class RedisDeliveryStatusStore(DeliveryStatusStore):
    """
    `DeliveryStatusStore` in Redis, from a ``url`` or an existing ``redis.asyncio`` client.

    Args:
        url: ``redis://host:port/db``; the store then owns (and `close` closes) its client.
        client: a client to share instead (left open by `close`).
        prefix: namespace of the keys, so several apps can share one Redis.
        retention_seconds: how long an untouched message is remembered (default 30 days).
        max_connections: size of the pool built from ``url``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "portico:status:",
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        max_connections: int = 50,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("give exactly one of url or client")
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        self._owns_client = client is None
        if client is None:
            pool = BlockingConnectionPool.from_url(url or "", max_connections=max_connections)
            client = Redis(connection_pool=pool)
        self._client: Redis = client
        self._prefix = prefix
        self._ttl_ms = max(1, round(retention_seconds * 1000))
        self._record_script: Any = self._client.register_script(_RECORD)

    def __repr__(self) -> str:
        # The URL may carry a password: never shown.
        return f"<RedisDeliveryStatusStore prefix={self._prefix!r}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def redis_key(self, message_id: str) -> str:
        """The Redis key that holds ``message_id``'s status."""
        return self._prefix + message_id

    async def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        """Apply one status report atomically (forward-only); returns the status on record."""
        result = await self._record_script(
            keys=[self.redis_key(message_id)], args=[status.value, self._ttl_ms]
        )
        return _status(result)

    async def get(self, message_id: str) -> DeliveryStatus | None:
        """The furthest status recorded for ``message_id``, or None (unknown or expired)."""
        raw = await self._client.get(self.redis_key(message_id))
        return None if raw is None else _status(raw)

    async def close(self) -> None:
        """Close the client if this store created it."""
        if self._owns_client:
            await self._client.aclose()
            await self._client.connection_pool.disconnect()
