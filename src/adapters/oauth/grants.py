"""
The two OAuth2 token requests Portico makes, each one `Renewal` for a `TokenStore`.

**Client credentials** (Microsoft identity platform, app-only access to Microsoft Graph):
``POST https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with the form
``client_id``, ``client_secret``, ``scope=https://graph.microsoft.com/.default`` and
``grant_type=client_credentials``; the answer is ``{"token_type": "Bearer", "expires_in": 3599,
"access_token": ...}`` and never carries a refresh token. An error is a 400/401 with
``{"error": "invalid_client", "error_description": "AADSTS7000215: ...", "error_codes":
[7000215], "timestamp", "trace_id", "correlation_id"}``. (Microsoft Learn, "Microsoft identity
platform and the OAuth 2.0 client credentials flow"; MSAL Python's
``ConfidentialClientApplication.acquire_token_for_client`` sends the same form.)

**Refresh token** (HubSpot OAuth apps): ``POST https://api.hubapi.com/oauth/v1/token`` with the
form ``grant_type=refresh_token``, ``client_id``, ``client_secret``, ``refresh_token``; the answer
is ``{"token_type": "bearer", "refresh_token", "access_token", "expires_in": 1800}``. A refused
refresh token is a 400 ``{"status": "BAD_REFRESH_TOKEN", "message", "correlationId"}``.
(developers.hubspot.com, "Refresh an access token" in the OAuth tokens API; hubspot-api-python's
``auth.oauth.tokens_api.create(grant_type="refresh_token", ...)``.) The refresh token in the
answer replaces the one sent: the store keeps it before it is used again.

Every failure, whatever its kind (refused, 5xx, unreachable, malformed), is a
`TokenRefreshFailed` naming the integration: never retried here, counted by the breaker. Error
descriptions are not kept (they may echo the request); the OAuth error code, Microsoft's AADSTS
numbers and the correlation id are.
"""

from __future__ import annotations

import abc
import re
from typing import Any

import attrs
import httpx

from ...domain.errors import IntegrationError, TokenRefreshFailed
from ...domain.json_reader import JsonNode
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...domain.tokens import AccessToken
from ..http.client import VendorClient, build_client
from ..http.errors import VendorError


__all__ = [
    "GRAPH_SCOPE",
    "HUBSPOT_TOKEN_URL",
    "TOKEN_TIMEOUT",
    "ClientCredentialsGrant",
    "RefreshTokenGrant",
    "microsoft_token_url",
    "parse_oauth_error",
]

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
HUBSPOT_TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"  # noqa: S105 - a URL, not a secret
# A token request is small: answer quickly or fail (the caller's breaker counts it).
TOKEN_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def microsoft_token_url(tenant: str, authority: str = "https://login.microsoftonline.com") -> str:
    """The v2.0 token endpoint of ``tenant`` (a tenant id or domain)."""
    return f"{authority.rstrip('/')}/{_SAFE.sub('', tenant)}/oauth2/v2.0/token"


def _safe(value: object, limit: int = 64) -> str | None:
    if not isinstance(value, str):
        return None
    return _SAFE.sub("", value)[:limit] or None


def parse_oauth_error(response: httpx.Response, body: Any) -> VendorError:
    """An RFC 6749 error (``error``, Microsoft's ``error_codes``) or HubSpot's (``status``)."""
    data = body if isinstance(body, dict) else {}
    code = _safe(data.get("error")) or _safe(data.get("status"))
    parts = [code or "token request refused"]
    numbers = data.get("error_codes")
    if isinstance(numbers, list):
        parts.extend(f"AADSTS{n}" for n in numbers[:3] if isinstance(n, int))
    correlation = _safe(data.get("correlation_id")) or _safe(data.get("correlationId"))
    if correlation:
        parts.append(f"(correlation id {correlation})")
    return VendorError(code=code, message=" ".join(parts))


def _read_token(body: JsonNode, now: float) -> AccessToken:
    value = body.text("access_token", max_length=16_384)
    raw = body.raw.get("expires_in")
    # Microsoft answers a number; some identity services send it as a string.
    if isinstance(raw, str) and raw.strip().isdigit():
        lifetime = float(raw)
    else:
        lifetime = body.number("expires_in")
    if lifetime <= 0:
        body.fail("must be positive", "expires_in")
    kind = body.opt_text("token_type", max_length=32)
    if kind is not None and kind.lower() != "bearer":
        body.fail("must be bearer", "token_type")
    refresh = body.opt_text("refresh_token", max_length=16_384)
    return AccessToken(value=value, expires_at=now + lifetime, refresh_token=refresh)


@attrs.define
class _Grant(abc.ABC):
    """One token endpoint and the client credentials; secrets never printed."""

    integration: str
    token_url: str
    client_id: str = attrs.field(repr=False)
    client_secret: str = attrs.field(repr=False)
    http: httpx.AsyncClient = attrs.field(factory=lambda: build_client("", timeout=TOKEN_TIMEOUT))
    clock: Clock = attrs.field(default=SYSTEM_CLOCK, repr=False)
    requests: int = attrs.field(default=0, init=False)
    _client: VendorClient = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._client = VendorClient(self.integration, self.http, parse_oauth_error)

    @abc.abstractmethod
    def _form(self, stored: AccessToken | None) -> dict[str, str]:
        """The grant's form fields."""

    async def __call__(self, stored: AccessToken | None) -> AccessToken:
        """Make one token request; every failure is a `TokenRefreshFailed`."""
        now = epoch_seconds(self.clock)()
        form = self._form(stored)
        self.requests += 1
        try:
            body = await self._client.request(
                "token request",
                "POST",
                self.token_url,
                data=form,
                headers={"Accept": "application/json"},
            )
            return _read_token(body, now)
        except IntegrationError as exc:
            raise TokenRefreshFailed(
                f"could not obtain an access token: {type(exc).__name__}: {exc.message}",
                integration=self.integration,
                vendor_code=exc.vendor_code,
                status_code=exc.status_code,
            ) from exc

    async def aclose(self) -> None:
        """Close the token endpoint's connection pool."""
        await self.http.aclose()


@attrs.define
class ClientCredentialsGrant(_Grant):
    """The client-credentials grant (app-only; Microsoft Graph's ``.default`` scope by default)."""

    scope: str = GRAPH_SCOPE

    def _form(self, stored: AccessToken | None) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
            "grant_type": "client_credentials",
        }


@attrs.define
class RefreshTokenGrant(_Grant):
    """
    The refresh-token grant: the stored token's refresh token when there is one (the server may
    have rotated it), else ``refresh_token``, the one the app was installed with.
    """

    refresh_token: str = attrs.field(default="", repr=False)

    def _form(self, stored: AccessToken | None) -> dict[str, str]:
        current = stored.refresh_token if stored is not None and stored.refresh_token else None
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": current or self.refresh_token,
        }

    async def __call__(self, stored: AccessToken | None) -> AccessToken:
        """Refresh, keeping the refresh token used when the answer carries none."""
        token = await super().__call__(stored)
        if token.refresh_token is None:
            used = self._form(stored)["refresh_token"]
            token = AccessToken(token.value, token.expires_at, refresh_token=used)
        return token
