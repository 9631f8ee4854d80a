"""
The ports of OAuth2 token management: who hands out access tokens, and where they are shared.

An adapter that authenticates with short-lived tokens asks its `TokenProvider` for one before
each call and tells it when the vendor refused one (a 401); the provider renews a token once
however many callers need it, and keeps it in a `TokenStore` so several processes share it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from ..domain.tokens import AccessToken


__all__ = ["Renewal", "TokenProvider", "TokenStore"]

Renewal = Callable[[AccessToken | None], Awaitable[AccessToken]]
"""Fetches a new token, given the stored one (whose refresh token a refresh grant uses)."""


@runtime_checkable
class TokenProvider(Protocol):
    """Hands out a valid access token for one integration."""

    async def token(self) -> AccessToken:
        """
        A token that is valid for at least the provider's skew.

        Returns:
            The cached token while it is valid; otherwise a new one. However many callers ask
            while a renewal is under way, exactly one token request is made and all of them get
            its result (or its error).

        Raises:
            TokenRefreshFailed: the token request failed (refused credentials, a revoked refresh
                token, the identity service unreachable); names the integration and never a
                secret. Not retried here: the caller's breaker counts it.
        """
        ...

    async def invalidate(self, token: AccessToken) -> None:
        """
        The vendor refused ``token`` (a 401): the next `token` renews, unless another caller
        already replaced it. Idempotent.
        """
        ...


@runtime_checkable
class TokenStore(Protocol):
    """Where the current token of each integration is kept, shared by the processes using it."""

    async def renew(
        self, key: str, fetch: Renewal, *, keep: Callable[[AccessToken], bool]
    ) -> AccessToken:
        """
        The token under ``key``, renewed by ``fetch`` unless ``keep`` accepts the stored one.

        Exclusive across every user of the store (a lock in a shared store): one renews while
        the others wait and then read its result. The new token (and a rotated refresh token) is
        stored before it is returned, so a refresh token is never used after it was replaced.

        Raises:
            whatever ``fetch`` raised (nothing is stored then); `Unavailable` when the store
            itself cannot be used.
        """
        ...

    async def close(self) -> None:
        """Release the store's connections (a memory store has none)."""
        ...
