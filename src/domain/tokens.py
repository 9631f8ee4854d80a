"""
OAuth2 access tokens as values: what a token provider hands out and a token store keeps.

A token is a credential: its repr shows neither the access token nor the refresh token, only
when it expires, so a token that reaches a log line or a traceback leaks nothing.
"""

from __future__ import annotations

import attrs

from .errors import InvalidValue


__all__ = ["AccessToken"]


@attrs.frozen(repr=False)
class AccessToken:
    """
    A bearer token and when it stops being accepted.

    Args:
        value: the access token sent as ``Authorization: Bearer <value>``; never printed.
        expires_at: when the server said it expires, in seconds since the epoch (wall time, so
            processes sharing a token store agree on it).
        refresh_token: the refresh token that came with it (HubSpot rotates it), or None for a
            grant without one (client credentials); never printed.
    """

    value: str = attrs.field(eq=True)
    expires_at: float
    refresh_token: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.value:
            raise InvalidValue("access_token", "must not be empty")

    def usable(self, now: float, skew: float) -> bool:
        """Whether the token is still good ``skew`` seconds from ``now`` (epoch seconds)."""
        return now + skew < self.expires_at

    def __repr__(self) -> str:
        rotated = ", refresh_token=<masked>" if self.refresh_token is not None else ""
        return f"AccessToken(<masked>, expires_at={self.expires_at:.0f}{rotated})"
