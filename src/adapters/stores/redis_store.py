"""
The distributed replay store: Redis, for many workers on many hosts.

A claim is ``SET key <token> NX PX <lease>``; when that fails, the same Lua script reads the
value to tell a completed key (DUPLICATE) from another worker's claim (IN_FLIGHT), all in one
atomic round trip. `complete` overwrites the value with a marker and the retention TTL. `release`
is a compare-and-delete script: the key goes only while it still holds the token of the `Claim`
being released, so a worker (or a coroutine of this process) whose lease expired, and whose key
another has since claimed or completed, frees nothing that is not its own. Expiry is Redis's own
clock, so worker clocks never matter.
"""

from __future__ import annotations

import secrets
from typing import Any

from redis.asyncio import Redis

from ...domain.replay import Claim
from ...domain.webhooks import ClaimOutcome
from ..redis_keys import DEFAULT_CONNECT_TIMEOUT, DEFAULT_SOCKET_TIMEOUT, RedisKeyStore, ttl_ms


__all__ = ["RedisReplayStore"]

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0
_DONE = "done"

# Returns 1 CLAIMED, 2 DUPLICATE, 3 IN_FLIGHT.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[3] then return 2 end
return 3
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_OUTCOMES = {1: ClaimOutcome.CLAIMED, 2: ClaimOutcome.DUPLICATE, 3: ClaimOutcome.IN_FLIGHT}


class RedisReplayStore(RedisKeyStore):
    """
    `ReplayStore` in Redis, from a ``url`` or an existing ``redis.asyncio`` client.

    Args:
        url: ``redis://host:port/db``; the store then owns (and `close` closes) its client, whose
            pool blocks (up to 20 s) for a free connection rather than failing a burst.
        client: a client to share instead (left open by `close`); give it a
            `BlockingConnectionPool` too if bursts may exceed its connection limit.
        max_connections: size of the pool built from ``url``.
        prefix: namespace of the keys, so several apps can share one Redis.
        retention_seconds: how long a completed key answers DUPLICATE (default 7 days).
        socket_timeout: seconds a read or write may take on a client built from ``url``.
        connect_timeout: seconds connecting may take on a client built from ``url``.

    The server needs AOF (``appendonly yes``, ``appendfsync everysec`` or ``always``): without
    it a restart forgets every dedup key and redeliveries are processed again; the first use
    logs a WARNING when the server reports otherwise (`RedisKeyStore.check_persistence`).

    Raises:
        Unavailable: on any call, when Redis refuses, resets or does not answer in time.
    """

    INTEGRATION = "replay_store"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "portico:replay:",
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
        self._claim_script: Any = self._script(_CLAIM)
        self._release_script: Any = self._script(_RELEASE)

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Take ``key`` with ``SET NX PX`` unless it is completed or claimed and unexpired."""
        token = "claim:" + secrets.token_hex(16)
        result = await self._guard(
            self._claim_script(
                keys=[self.redis_key(key)], args=[token, ttl_ms(lease_seconds), _DONE]
            )
        )
        outcome = _OUTCOMES[int(result)]
        return Claim(key, outcome, token if outcome is ClaimOutcome.CLAIMED else "")

    async def complete(self, claim: Claim) -> None:
        """Mark the key processed; it answers DUPLICATE until the retention TTL runs out."""
        claim.held_token("completed")
        await self._guard(self._client.set(self.redis_key(claim.key), _DONE, px=self._retention_ms))

    async def release(self, claim: Claim) -> None:
        """Delete the key only while it still holds this claim's token."""
        token = claim.held_token("released")
        await self._guard(self._release_script(keys=[self.redis_key(claim.key)], args=[token]))
