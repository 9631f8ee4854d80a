"""
The client handling the Redis stores share: one URL-or-client rule, one pool, one way to close.

A store built from a URL owns its client, whose pool blocks (up to 20 s) for a free connection
rather than failing a burst; a store given a client shares it and leaves it open. Keys live under
a prefix so several apps can share one Redis. The URL may carry a password, so reprs show only
the prefix.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from .closing import ClosesOnExit


__all__ = ["RedisKeyStore", "ttl_ms"]


def ttl_ms(seconds: float) -> int:
    """``seconds`` as whole milliseconds for ``PX`` / ``PEXPIRE``, never below 1."""
    return max(1, round(seconds * 1000))


class RedisKeyStore(ClosesOnExit):
    """
    A Redis client (made from ``url`` or given as ``client``) and the key prefix of one store.

    Raises:
        ValueError: neither or both of ``url`` and ``client``, or a non-positive retention.
    """

    def __init__(
        self,
        url: str | None,
        client: Redis | None,
        *,
        prefix: str,
        retention_seconds: float,
        max_connections: int,
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
        self._retention_ms = ttl_ms(retention_seconds)

    def __repr__(self) -> str:
        # The URL may carry a password: never shown.
        return f"<{type(self).__name__} prefix={self._prefix!r}>"

    def redis_key(self, key: str) -> str:
        """The Redis key that holds ``key``'s state."""
        return self._prefix + key

    def _script(self, lua: str) -> Any:
        """Register ``lua`` with the client; the result is awaited with ``keys=`` and ``args=``."""
        return self._client.register_script(lua)

    async def close(self) -> None:
        """Close the client if this store created it."""
        if self._owns_client:
            await self._client.aclose()
            await self._client.connection_pool.disconnect()
