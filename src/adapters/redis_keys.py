"""
The client handling the Redis stores share: one URL-or-client rule, one pool, one way to close.

A store built from a URL owns its client, whose pool blocks (up to 20 s) for a free connection
rather than failing a burst; a store given a client shares it and leaves it open. Keys live under
a prefix so several apps can share one Redis. The URL may carry a password, so reprs show only
the prefix.

**Timeouts.** A client built from a URL gets an explicit ``socket_timeout`` (each read and write)
and ``socket_connect_timeout`` (default 2 s each), never redis-py's defaults (none for reads on
some versions): a frozen Redis fails a call within the timeout instead of hanging a request, and
the failure is `domain.errors.Unavailable` (``request_sent=False``), as for the SQLite stores.

**Persistence.** Keys that must survive a Redis restart (a replay store's dedup keys) need AOF
(``appendonly yes``, ``appendfsync everysec`` or ``always``). On first use each store asks the
server once (``INFO persistence``, then ``CONFIG GET appendfsync`` where CONFIG is allowed) and
logs one WARNING when writes would be lost on a restart; a server that refuses both is reported
once as "cannot tell".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError, ResponseError

from ..domain.errors import Unavailable
from .closing import ClosesOnExit


__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_SOCKET_TIMEOUT", "RedisKeyStore", "ttl_ms"]

DEFAULT_SOCKET_TIMEOUT = 2.0
DEFAULT_CONNECT_TIMEOUT = 2.0

_T = TypeVar("_T")
log = logging.getLogger("portico.redis")


def ttl_ms(seconds: float) -> int:
    """``seconds`` as whole milliseconds for ``PX`` / ``PEXPIRE``, never below 1."""
    return max(1, round(seconds * 1000))


class RedisKeyStore(ClosesOnExit):
    """
    A Redis client (made from ``url`` or given as ``client``) and the key prefix of one store.

    ``socket_timeout`` and ``connect_timeout`` (seconds) apply to a client built from ``url``;
    a shared ``client`` keeps its own. ``INTEGRATION`` names the store in its `Unavailable`.

    Raises:
        ValueError: neither or both of ``url`` and ``client``, or a non-positive retention or
            timeout.
    """

    INTEGRATION = "redis"

    def __init__(
        self,
        url: str | None,
        client: Redis | None,
        *,
        prefix: str,
        retention_seconds: float,
        max_connections: int,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("give exactly one of url or client")
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        if socket_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("socket_timeout and connect_timeout must be positive")
        self._owns_client = client is None
        if client is None:
            pool = BlockingConnectionPool.from_url(
                url or "",
                max_connections=max_connections,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
            )
            client = Redis(connection_pool=pool)
        self._client: Redis = client
        self._prefix = prefix
        self._retention_ms = ttl_ms(retention_seconds)
        self._persistence_checked = False

    def __repr__(self) -> str:
        # The URL may carry a password: never shown.
        return f"<{type(self).__name__} prefix={self._prefix!r}>"

    def redis_key(self, key: str) -> str:
        """The Redis key that holds ``key``'s state."""
        return self._prefix + key

    def _script(self, lua: str) -> Any:
        """Register ``lua`` with the client; the result is awaited with ``keys=`` and ``args=``."""
        return self._client.register_script(lua)

    async def _guard(self, call: Awaitable[_T]) -> _T:
        """
        Await ``call``, checking persistence first on the first use; Redis failures (refused,
        reset, timed out) become `Unavailable`, with the error's type only (no URL).
        """
        try:
            if not self._persistence_checked:
                await self.check_persistence()
            return await call
        except (RedisError, OSError) as err:
            if hasattr(call, "close"):
                call.close()  # a coroutine never awaited: no "never awaited" warning
            raise Unavailable(
                f"the {self.INTEGRATION} (redis) is unavailable: {type(err).__name__}",
                integration=self.INTEGRATION,
                request_sent=False,
            ) from None

    async def _on_enter(self) -> None:
        with contextlib.suppress(RedisError, OSError):  # unreachable now: checked at first use
            await self.check_persistence()

    async def check_persistence(self) -> str | None:
        """
        Ask the server once whether writes survive its restart; log one WARNING when not.

        Returns:
            The warning (None when AOF is on with ``appendfsync`` ``everysec`` or ``always``).

        Raises:
            redis.exceptions.RedisError: the server cannot be reached (checked again next use).
        """
        try:
            info = await self._client.info("persistence")
        except ResponseError as err:  # INFO refused (an ACL): cannot tell
            problem: str | None = f"cannot tell whether it persists (INFO: {type(err).__name__})"
        else:
            problem = _persistence_problem(info, await self._appendfsync())
        self._persistence_checked = True
        if problem is not None:
            log.warning(
                "%s %s: the Redis server %s; its keys are lost on a restart (replayed webhooks "
                "would be processed twice): set appendonly yes, appendfsync everysec or always",
                type(self).__name__,
                self._prefix,
                problem,
            )
        return problem

    async def _appendfsync(self) -> str | None:
        """``CONFIG GET appendfsync``, or None when CONFIG is disabled or renamed."""
        try:
            reply: Mapping[Any, Any] = await self._client.config_get("appendfsync")
        except ResponseError:
            return None
        value = reply.get("appendfsync", reply.get(b"appendfsync"))
        return value.decode() if isinstance(value, bytes) else None if value is None else str(value)

    async def close(self) -> None:
        """Close the client if this store created it."""
        if self._owns_client:
            await self._client.aclose()
            await self._client.connection_pool.disconnect()


def _persistence_problem(info: dict[str, Any], appendfsync: str | None) -> str | None:
    """What is wrong with the server's persistence for durable keys, or None (AOF on)."""
    if str(info.get("aof_enabled", "0")) != "1":
        return "has no AOF (appendonly no)"
    if appendfsync == "no":
        return "has AOF with appendfsync no (the OS decides when writes reach disk)"
    return None
