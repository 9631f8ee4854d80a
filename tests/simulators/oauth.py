"""
An OAuth2 token endpoint, stateful: Microsoft client credentials and HubSpot refresh tokens.

`TokenIssuer` is the authorization server's memory: the tokens it issued, when they expire and
which were revoked, so a vendor simulator asks it whether a bearer token is good (401 if not).
`TokenEndpoint` serves the requests as documented (see `portico.adapters.oauth.grants`):

- ``POST /{tenant}/oauth2/v2.0/token`` (client credentials): the right client id, secret and
  ``.default`` scope get ``{"token_type": "Bearer", "expires_in", "ext_expires_in",
  "access_token"}``; anything else a 400/401 ``invalid_client`` / ``invalid_scope`` body with
  ``error_codes``, ``trace_id`` and ``correlation_id``.
- ``POST /oauth/v1/token`` (HubSpot refresh): the current refresh token gets ``{"token_type":
  "bearer", "refresh_token", "access_token", "expires_in"}``; with ``rotate`` a new refresh
  token each time and the old one refused (``BAD_REFRESH_TOKEN``), so a reused refresh token
  shows up as a failure.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable

from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, json_response


__all__ = ["CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN", "TokenEndpoint", "TokenIssuer"]

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "sim-client-secret-DO-NOT-LOG"
REFRESH_TOKEN = "sim-refresh-token-0"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class TokenIssuer:
    """Issued access tokens with their expiry (``clock``: epoch seconds) and revocations."""

    def __init__(self, *, lifetime: float = 3599.0, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.issued: dict[str, float] = {}

    def issue(self) -> str:
        """A new access token, valid for ``lifetime`` seconds."""
        token = "at-" + secrets.token_urlsafe(24)
        self.issued[token] = self.clock() + self.lifetime
        return token

    def accepts(self, token: str | None) -> bool:
        """Whether ``token`` was issued here, is not revoked and has not expired."""
        return token is not None and self.issued.get(token, 0.0) > self.clock()

    def revoke_all(self) -> None:
        """Every token issued so far stops working (a rotated secret, a server-side revoke)."""
        self.issued.clear()


class TokenEndpoint(Simulator):
    """The token endpoint of Microsoft's identity platform and of HubSpot's OAuth API."""

    def __init__(
        self,
        issuer: TokenIssuer | None = None,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        refresh_token: str = REFRESH_TOKEN,
        rotate: bool = False,
    ) -> None:
        super().__init__()
        self.issuer = issuer or TokenIssuer()
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.rotate = rotate
        self.refresh_reused = 0

    @property
    def token_requests(self) -> int:
        """How many token requests reached the endpoint."""
        return len(self.requests_to("POST", "token"))

    def handle(self, request: SimRequest) -> SimResponse:
        """Route to the grant the path names."""
        if request.method == "POST" and request.path.endswith("/oauth2/v2.0/token"):
            return self._client_credentials(request.form())
        if request.method == "POST" and request.path == "/oauth/v1/token":
            return self._refresh(request.form())
        return json_response(404, {"error": "not_found"})

    def _microsoft_error(self, status: int, error: str, code: int) -> SimResponse:
        return json_response(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: simulated. Trace ID: x",
                "error_codes": [code],
                "timestamp": "2026-12-03 10:00:00Z",
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
        )

    def _client_credentials(self, form: dict[str, str]) -> SimResponse:
        if form.get("grant_type") != "client_credentials":
            return self._microsoft_error(400, "unsupported_grant_type", 70003)
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return self._microsoft_error(401, "invalid_client", 7000215)
        if form.get("scope") != GRAPH_SCOPE:
            return self._microsoft_error(400, "invalid_scope", 1002012)
        return json_response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": int(self.issuer.lifetime),
                "ext_expires_in": int(self.issuer.lifetime),
                "access_token": self.issuer.issue(),
            },
        )

    def _refresh(self, form: dict[str, str]) -> SimResponse:
        bad = form.get("grant_type") != "refresh_token" or form.get("client_id") != self.client_id
        if bad or form.get("client_secret") != self.client_secret:
            return json_response(
                400,
                {
                    "status": "BAD_CLIENT_ID",
                    "message": "missing or invalid client id",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        if form.get("refresh_token") != self.refresh_token:
            self.refresh_reused += 1
            return json_response(
                400,
                {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        if self.rotate:
            self.refresh_token = "sim-refresh-" + secrets.token_urlsafe(12)
        return json_response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": self.refresh_token,
                "access_token": self.issuer.issue(),
                "expires_in": int(self.issuer.lifetime),
            },
        )
