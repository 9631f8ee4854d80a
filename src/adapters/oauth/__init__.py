"""OAuth2 token management: the grants, a caching single-flight provider, and token stores."""

from .grants import (
    GRAPH_SCOPE,
    HUBSPOT_TOKEN_URL,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    microsoft_token_url,
    parse_oauth_error,
)
from .provider import DEFAULT_SKEW_SECONDS, CachedTokenProvider
from .stores import MemoryTokenStore, RedisTokenStore, token_store


__all__ = [
    "DEFAULT_SKEW_SECONDS",
    "GRAPH_SCOPE",
    "HUBSPOT_TOKEN_URL",
    "CachedTokenProvider",
    "ClientCredentialsGrant",
    "MemoryTokenStore",
    "RedisTokenStore",
    "RefreshTokenGrant",
    "microsoft_token_url",
    "parse_oauth_error",
    "token_store",
]
