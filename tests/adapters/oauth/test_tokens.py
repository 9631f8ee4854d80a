"""OAuth2 tokens: one renewal however many callers, one resend after a 401, fast failures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import httpx
import pytest
from redis.asyncio import Redis
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    TokenEndpoint,
    TokenIssuer,
)
from tests.simulators.server import serve
from tests.simulators.sim_base import Receive, Scope, Send

from portico.adapters.fakes import FakeClock
from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.oauth import (
    CachedTokenProvider,
    ClientCredentialsGrant,
    MemoryTokenStore,
    RedisTokenStore,
    RefreshTokenGrant,
    microsoft_token_url,
)
from portico.adapters.resilience import (
    BreakerRegistry,
    ResiliencePolicy,
    ResilientCRM,
    build_pipeline,
)
from portico.domain.errors import AuthenticationFailed, CircuitOpenError, TokenRefreshFailed
from portico.domain.tokens import AccessToken
from portico.domain.values import Email


NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
HUBSPOT = "http://hubspot.test"
TOKEN_URL = "http://login.test/oauth/v1/token"
EMAIL = Email("ana@example.com")
LIFETIME = 1800.0
SKEW = 60.0


@attrs.define
class World:
    """A HubSpot OAuth app against the simulators, on one fake clock."""

    clock: FakeClock
    endpoint: TokenEndpoint
    hub: HubSpotSimulator
    crm: HubSpotCRM
    provider: CachedTokenProvider

    def expire(self) -> None:
        """Move past the renewal point of the current token."""
        self.clock.advance(LIFETIME - SKEW + 1)


def _world(
    *, rotate: bool = False, accepts: bool | None = None, store: MemoryTokenStore | None = None
) -> World:
    clock = FakeClock(NOW)
    issuer = TokenIssuer(lifetime=LIFETIME, clock=lambda: clock.now().timestamp())
    endpoint = TokenEndpoint(issuer, rotate=rotate)
    hub = HubSpotSimulator(accepts=issuer.accepts if accepts is None else (lambda _token: accepts))
    grant = RefreshTokenGrant(
        integration="hubspot",
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint)),
        clock=clock,
    )
    provider = CachedTokenProvider(grant, key="hubspot:test", store=store, skew=SKEW, clock=clock)
    http = httpx.AsyncClient(base_url=HUBSPOT, transport=httpx.ASGITransport(app=hub))
    crm = HubSpotCRM(http=http, token=None, tokens=provider, clock=clock)
    return World(clock, endpoint, hub, crm, provider)


@pytest.fixture(name="world")
async def _world_fixture() -> AsyncIterator[World]:
    made = _world()
    yield made
    await made.crm.aclose()


def _searches(world: World) -> int:
    return len(world.hub.requests_to("POST", "/contacts/search"))


async def test_500_concurrent_calls_at_expiry_make_one_token_request(world: World) -> None:
    """500 calls with no token, then 500 more after expiry: one token request each time."""
    found = await asyncio.gather(*(world.crm.find_contact(email=EMAIL) for _ in range(500)))
    assert found == [None] * 500
    assert world.endpoint.token_requests == 1
    world.expire()
    await asyncio.gather(*(world.crm.find_contact(email=EMAIL) for _ in range(500)))
    assert world.endpoint.token_requests == 2
    assert _searches(world) == 1000


async def test_a_valid_token_is_reused_until_the_skew(world: World) -> None:
    """Calls inside the token's lifetime minus the skew make no token request."""
    await world.crm.find_contact(email=EMAIL)
    world.clock.advance(LIFETIME - SKEW - 1)
    await world.crm.find_contact(email=EMAIL)
    assert world.endpoint.token_requests == 1


async def test_a_401_renews_once_and_resends_once(world: World) -> None:
    """A token revoked server-side: the call gets one refresh and one resend, and succeeds."""
    await world.crm.find_contact(email=EMAIL)
    world.endpoint.issuer.revoke_all()
    assert await world.crm.find_contact(email=EMAIL) is None
    assert world.endpoint.token_requests == 2
    assert _searches(world) == 3  # the first call, the refused attempt, the resend


async def test_concurrent_401s_renew_once(world: World) -> None:
    """100 calls refused with the same revoked token share one renewal."""
    await world.crm.find_contact(email=EMAIL)
    world.endpoint.issuer.revoke_all()
    await asyncio.gather(*(world.crm.find_contact(email=EMAIL) for _ in range(100)))
    assert world.endpoint.token_requests == 2


async def test_a_token_refused_every_time_is_resent_only_once() -> None:
    """A vendor that refuses every token: two attempts, two token requests, then the 401."""
    world = _world(accepts=False)
    try:
        with pytest.raises(AuthenticationFailed) as caught:
            await world.crm.find_contact(email=EMAIL)
        assert not isinstance(caught.value, TokenRefreshFailed)
        assert caught.value.status_code == 401
        assert (_searches(world), world.endpoint.token_requests) == (2, 2)
    finally:
        await world.crm.aclose()


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def test_a_dead_token_endpoint_fails_fast_and_opens_the_breaker() -> None:
    """No token: AuthenticationFailed naming hubspot, not retried, and the breaker opens."""
    clock = FakeClock(NOW)
    hub = HubSpotSimulator(accepts=lambda _token: True)
    grant = RefreshTokenGrant(
        integration="hubspot",
        token_url=TOKEN_URL,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
        http=httpx.AsyncClient(transport=httpx.MockTransport(_down)),
        clock=clock,
    )
    provider = CachedTokenProvider(grant, key="hubspot:down", clock=clock)
    http = httpx.AsyncClient(base_url=HUBSPOT, transport=httpx.ASGITransport(app=hub))
    crm = HubSpotCRM(http=http, token=None, tokens=provider, clock=clock)
    pipeline = build_pipeline(
        "hubspot",
        ResiliencePolicy(failure_threshold=3, retry_attempts=4),
        registry=BreakerRegistry(),
        clock=clock,
    )
    port = ResilientCRM(crm, pipeline)
    try:
        for _ in range(3):
            with pytest.raises(TokenRefreshFailed) as caught:
                await port.find_contact(email=EMAIL)
            assert isinstance(caught.value, AuthenticationFailed)
            assert caught.value.integration == "hubspot"
            assert caught.value.request_sent is False
        assert grant.requests == 3  # never retried
        with pytest.raises(CircuitOpenError):
            await port.find_contact(email=EMAIL)
        assert grant.requests == 3
        assert hub.received == []
    finally:
        await crm.aclose()


async def test_a_rotated_refresh_token_is_the_one_used_next() -> None:
    """HubSpot rotating the refresh token: every renewal uses the latest, none is refused."""
    store = MemoryTokenStore()
    world = _world(rotate=True, store=store)
    try:
        for _ in range(4):
            await world.crm.find_contact(email=EMAIL)
            world.expire()
        assert world.endpoint.token_requests == 4
        assert world.endpoint.refresh_reused == 0
    finally:
        await world.crm.aclose()


async def test_a_refused_refresh_token_names_hubspot_and_no_secret() -> None:
    """BAD_REFRESH_TOKEN: TokenRefreshFailed with the code, without the secret or the token."""
    world = _world()
    world.endpoint.refresh_token = "another"
    try:
        with pytest.raises(TokenRefreshFailed) as caught:
            await world.crm.find_contact(email=EMAIL)
        text = f"{caught.value} {caught.value!r}"
        assert "BAD_REFRESH_TOKEN" in text
        assert caught.value.integration == "hubspot"
        for secret in (CLIENT_SECRET, REFRESH_TOKEN):
            assert secret not in text
    finally:
        await world.crm.aclose()


async def test_client_credentials_sends_the_documented_form() -> None:
    """Microsoft's grant: the form fields, the v2.0 path, a Bearer token for 3599 s."""
    clock = FakeClock(NOW)
    endpoint = TokenEndpoint(TokenIssuer(clock=lambda: clock.now().timestamp()))
    grant = ClientCredentialsGrant(
        integration="graph",
        token_url=microsoft_token_url("contoso.onmicrosoft.com", "http://login.test"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint)),
        clock=clock,
    )
    token = await grant(None)
    (request,) = endpoint.received
    assert request.path == "/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "https://graph.microsoft.com/.default",
        "grant_type": "client_credentials",
    }
    assert token.expires_at == NOW.timestamp() + 3599
    assert token.refresh_token is None
    for shown in (repr(token), repr(grant)):
        assert token.value not in shown
        assert CLIENT_SECRET not in shown
    await grant.aclose()


async def test_invalid_client_keeps_the_aadsts_code_not_the_description() -> None:
    """A wrong secret: invalid_client and AADSTS7000215 named, graph named, nothing secret."""
    endpoint = TokenEndpoint(client_secret="the-real-one")
    grant = ClientCredentialsGrant(
        integration="graph",
        token_url=microsoft_token_url("tenant", "http://login.test"),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint)),
    )
    with pytest.raises(TokenRefreshFailed) as caught:
        await grant(None)
    message = str(caught.value)
    assert "invalid_client" in message
    assert "AADSTS7000215" in message
    assert "simulated" not in message  # the description is dropped
    assert CLIENT_SECRET not in message
    assert caught.value.integration == "graph"
    assert caught.value.vendor_code == "invalid_client"
    await grant.aclose()


def test_an_access_token_repr_masks_both_tokens() -> None:
    """Neither the access token nor the refresh token shows in a repr."""
    token = AccessToken("at-secret-value", 1.0e9, refresh_token="rt-secret-value")
    assert "secret" not in repr(token)
    assert "<masked>" in repr(token)


# ---------------------------------------------------------------- Redis, across processes


async def test_a_redis_store_shares_the_rotated_refresh_token(redis_url: str) -> None:
    """A second provider on the same Redis takes the stored token, then renews with its RT."""
    prefix = f"portico-test-{uuid.uuid4().hex}:"
    clock = FakeClock(NOW)
    issuer = TokenIssuer(lifetime=LIFETIME, clock=lambda: clock.now().timestamp())
    endpoint = TokenEndpoint(issuer, rotate=True)

    def provider() -> CachedTokenProvider:
        grant = RefreshTokenGrant(
            integration="hubspot",
            token_url=TOKEN_URL,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=REFRESH_TOKEN,
            http=httpx.AsyncClient(transport=httpx.ASGITransport(app=endpoint)),
            clock=clock,
        )
        store = RedisTokenStore(redis_url, prefix=prefix, clock=clock)
        return CachedTokenProvider(grant, key="k", store=store, skew=SKEW, clock=clock)

    first, second = provider(), provider()
    try:
        token = await first.token()
        assert (await second.token()).value == token.value
        assert endpoint.token_requests == 1
        clock.advance(LIFETIME)
        renewed = await second.token()  # with the refresh token the first renewal rotated
        assert renewed.value != token.value
        assert (await first.token()).value == renewed.value
        assert (endpoint.token_requests, endpoint.refresh_reused) == (2, 0)
        raw = await Redis.from_url(redis_url).get(f"{prefix}k")
        assert raw is not None
        assert json.loads(raw)["rt"] == endpoint.refresh_token
    finally:
        await first.aclose()
        await second.aclose()


class _Slow:
    """Answers after a pause, so two processes asking at once overlap."""

    def __init__(self, app: TokenEndpoint, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


def test_two_processes_sharing_redis_renew_once(redis_url: str, tmp_path: Path) -> None:
    """Two real processes, 50 callers each, one Redis: one token request between them."""
    endpoint = TokenEndpoint(rotate=True)
    start = tmp_path / "start"
    prefix = f"portico-test-{uuid.uuid4().hex}:"
    root = Path(__file__).resolve().parents[3]
    with serve(_Slow(endpoint, 0.3)) as base:
        command = [
            sys.executable,
            "-m",
            "tests.adapters.oauth.renew_worker",
            f"{base}/oauth/v1/token",
            redis_url,
            prefix,
            str(start),
        ]
        env = {**os.environ, "PYTHONPATH": str(root)}
        workers = [
            subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        try:
            start.touch()
            outputs = [worker.communicate(timeout=60)[0] for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0]
    results = [json.loads(output) for output in outputs]
    assert results[0]["tokens"] == results[1]["tokens"]
    assert len(results[0]["tokens"]) == 1
    assert sorted(r["requests"] for r in results) == [0, 1]
    assert (endpoint.token_requests, endpoint.refresh_reused) == (1, 0)


def test_skew_is_checked() -> None:
    """A negative skew is refused."""
    with pytest.raises(ValueError, match="skew"):
        CachedTokenProvider(RefreshTokenGrant("x", TOKEN_URL, "id", "secret"), key="k", skew=-1)
