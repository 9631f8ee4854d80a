"""
`CachedTokenProvider`: a `TokenProvider` that caches, renews once, and shares through a store.

- **Cached** in this process until ``skew`` seconds before ``expires_in`` runs out: the hot
  path is one comparison, no lock, no I/O.
- **Single flight**: the first caller that finds no usable token starts one renewal task; every
  caller that arrives meanwhile awaits that same task (shielded, so one caller's cancellation
  does not cancel the others'). 500 callers at expiry make one token request.
- **Shared**: the renewal goes through the `TokenStore`, whose lock lets one process renew while
  the others wait and take its token (a rotated refresh token is stored before it is used).
- **401**: `invalidate` drops the refused token here and marks it so the store's copy is not
  taken again; the next `token` renews once, whoever asked first.
"""

from __future__ import annotations

import asyncio

from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...domain.tokens import AccessToken
from ...ports.tokens import Renewal, TokenProvider, TokenStore
from .stores import MemoryTokenStore


__all__ = ["DEFAULT_SKEW_SECONDS", "CachedTokenProvider"]

DEFAULT_SKEW_SECONDS = 60.0


class CachedTokenProvider(TokenProvider):
    """
    Tokens for one integration, from ``grant``, kept in ``store`` under ``key``.

    Args:
        grant: makes one token request (`ClientCredentialsGrant`, `RefreshTokenGrant`).
        key: the store key (the integration and its client id: different apps never share).
        store: shared between processes (`RedisTokenStore`) or not (the default).
        skew: renew this many seconds before the token's expiry.
        clock: wall time decides expiry (processes sharing a store agree on it).
    """

    def __init__(
        self,
        grant: Renewal,
        *,
        key: str,
        store: TokenStore | None = None,
        skew: float = DEFAULT_SKEW_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if skew < 0:
            raise ValueError("skew must not be negative")
        self._grant = grant
        self._key = key
        self._store = store if store is not None else MemoryTokenStore()
        self._skew = skew
        self._now = epoch_seconds(clock)
        self._current: AccessToken | None = None
        self._refused: str | None = None
        self._renewal: asyncio.Future[AccessToken] | None = None

    def __repr__(self) -> str:
        return f"<CachedTokenProvider key={self._key!r} store={self._store!r}>"

    @property
    def store(self) -> TokenStore:
        """The store tokens are shared through."""
        return self._store

    async def token(self) -> AccessToken:
        """See `TokenProvider.token`."""
        current = self._current
        if current is not None and current.usable(self._now(), self._skew):
            return current
        renewal = self._renewal
        if renewal is None or renewal.done():
            renewal = asyncio.ensure_future(self._renew())
            # Every waiter may have been cancelled: the outcome is still retrieved.
            renewal.add_done_callback(_retrieve)
            self._renewal = renewal
        return await asyncio.shield(renewal)

    async def invalidate(self, token: AccessToken) -> None:
        """See `TokenProvider.invalidate`."""
        self._refused = token.value
        if self._current is not None and self._current.value == token.value:
            self._current = None

    def _keep(self, stored: AccessToken) -> bool:
        return stored.value != self._refused and stored.usable(self._now(), self._skew)

    async def _renew(self) -> AccessToken:
        token = await self._store.renew(self._key, self._grant, keep=self._keep)
        self._current = token
        return token

    async def aclose(self) -> None:
        """Close the grant's connection pool (when it has one) and the store."""
        closer = getattr(self._grant, "aclose", None)
        if closer is not None:
            await closer()
        await self._store.close()


def _retrieve(future: asyncio.Future[AccessToken]) -> None:
    if not future.cancelled():
        future.exception()
