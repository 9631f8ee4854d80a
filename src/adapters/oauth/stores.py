"""
Token stores: where an integration's current token lives, and the lock its renewal holds.

`MemoryTokenStore` serves one process (an `asyncio.Lock` per key). `RedisTokenStore` serves
many: the renewing process holds ``SET <key>:lock <owner> NX PX <ttl>``, the others poll until it
is gone and then read the token it stored; a process that dies holding the lock loses it when the
TTL ends. The token is stored (with a rotated refresh token) before the lock is released, so no
process ever sends a refresh token that the server has already replaced.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ...domain.errors import Unavailable
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.tokens import AccessToken
from ...ports.tokens import Renewal, TokenStore
from ..redis_keys import RedisKeyStore, ttl_ms


__all__ = ["TOKEN_STORE_KINDS", "MemoryTokenStore", "RedisTokenStore", "token_store"]

TOKEN_STORE_KINDS = ("memory", "redis")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class MemoryTokenStore(TokenStore):
    """Tokens in this process only: the default, and what a single worker needs."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"<MemoryTokenStore keys={len(self._tokens)}>"

    async def renew(
        self, key: str, fetch: Renewal, *, keep: Callable[[AccessToken], bool]
    ) -> AccessToken:
        """See `TokenStore.renew`."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            stored = self._tokens.get(key)
            if stored is not None and keep(stored):
                return stored
            token = await fetch(stored)
            self._tokens[key] = token
            return token

    async def close(self) -> None:
        """Nothing to release."""


def _encode(token: AccessToken) -> str:
    return json.dumps(
        {"v": token.value, "exp": token.expires_at, "rt": token.refresh_token},
        separators=(",", ":"),
    )


def _decode(raw: bytes | str | None) -> AccessToken | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        refresh = data.get("rt")
        return AccessToken(
            value=str(data["v"]),
            expires_at=float(data["exp"]),
            refresh_token=str(refresh) if refresh is not None else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # an unreadable entry is renewed over


class RedisTokenStore(RedisKeyStore, TokenStore):
    """
    Tokens shared by every process using one Redis.

    Args:
        url / client: as for the other Redis stores (exactly one).
        prefix: key namespace (``portico:tokens:``).
        lock_seconds: how long a renewal may hold the lock (longer than a token request's
            timeout); a process that died holding it is taken over after this.
        poll_seconds: how often a waiting process looks whether the renewal is done.
        retention_seconds: how long a stored token (and its refresh token) is kept unused.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "portico:tokens:",
        lock_seconds: float = 30.0,
        poll_seconds: float = 0.05,
        retention_seconds: float = 90 * 24 * 3600.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(
            url, client, prefix=prefix, retention_seconds=retention_seconds, max_connections=20
        )
        self._lock_ms = ttl_ms(lock_seconds)
        self._lock_seconds = lock_seconds
        self._poll = poll_seconds
        self._clock = clock
        self._release = self._script(_RELEASE)

    async def renew(
        self, key: str, fetch: Renewal, *, keep: Callable[[AccessToken], bool]
    ) -> AccessToken:
        """See `TokenStore.renew`: one process renews, the others wait for its token."""
        name = self.redis_key(key)
        lock = f"{name}:lock"
        owner = secrets.token_hex(16)
        waited = 0.0
        try:
            while True:
                stored = _decode(await self._client.get(name))
                if stored is not None and keep(stored):
                    return stored
                if await self._client.set(lock, owner, nx=True, px=self._lock_ms):
                    break
                if waited > 2 * self._lock_seconds:
                    raise Unavailable(
                        "token store: another process holds the renewal lock too long",
                        integration="tokens",
                        request_sent=False,
                    )
                await self._clock.sleep(self._poll)
                waited += self._poll
            try:
                stored = _decode(await self._client.get(name))  # renewed while we asked?
                if stored is not None and keep(stored):
                    return stored
                token = await fetch(stored)
                await self._client.set(name, _encode(token), px=self._retention_ms)
                return token
            finally:
                await self._release(keys=[lock], args=[owner])
        except RedisError as exc:
            raise Unavailable(
                f"token store unavailable ({type(exc).__name__})",
                integration="tokens",
                request_sent=False,
            ) from exc


def token_store(kind: str, url: str | None, *, clock: Clock = SYSTEM_CLOCK) -> TokenStore:
    """The store a vendor's ``token_store`` / ``token_store_url`` settings name."""
    if kind == "redis":
        if not url:
            raise ValueError("token_store_url is required for token_store redis")
        return RedisTokenStore(url, clock=clock)
    return MemoryTokenStore()
