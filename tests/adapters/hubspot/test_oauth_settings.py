"""HubSpot as an OAuth app: either the private-app token or all three OAuth settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from portico import create_container
from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.oauth import CachedTokenProvider, RedisTokenStore
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings
from portico.domain.errors import ConfigurationError


OAUTH = {
    "PORTICO_ENVIRONMENT": "production",
    "PORTICO_HUBSPOT__CLIENT_ID": "app-client-id",
    "PORTICO_HUBSPOT__CLIENT_SECRET": "app-client-secret-VALUE",
    "PORTICO_HUBSPOT__REFRESH_TOKEN": "refresh-token-VALUE",
}
BOTH_OR_NEITHER = (
    "hubspot.token: give either token (a private app) or all of client_id, client_secret and "
    "refresh_token (an OAuth app), not both and not part (PORTICO_HUBSPOT__TOKEN)"
)


@pytest.mark.parametrize(
    "missing",
    [
        "PORTICO_HUBSPOT__CLIENT_ID",
        "PORTICO_HUBSPOT__CLIENT_SECRET",
        "PORTICO_HUBSPOT__REFRESH_TOKEN",
    ],
)
def test_part_of_the_oauth_settings_is_one_problem(missing: str) -> None:
    """Two of the three OAuth settings: one message naming all three, no value shown."""
    env = {name: value for name, value in OAUTH.items() if name != missing}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env=env)
    assert caught.value.problems == (BOTH_OR_NEITHER,)
    assert "VALUE" not in str(caught.value)


def test_a_token_and_oauth_settings_together_are_refused() -> None:
    """A private-app token beside the OAuth app's settings is ambiguous: refused."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env={**OAUTH, "PORTICO_HUBSPOT__TOKEN": "pat-na1-x"})
    assert caught.value.problems == (BOTH_OR_NEITHER,)


def test_redis_token_store_needs_its_url() -> None:
    """token_store redis without token_store_url is named."""
    with pytest.raises(ConfigurationError, match=r"hubspot\.token_store_url: is required"):
        load_settings(env={**OAUTH, "PORTICO_HUBSPOT__TOKEN_STORE": "redis"})


async def test_oauth_settings_build_an_adapter_with_a_token_provider(tmp_path: Path) -> None:
    """The OAuth settings make the HubSpot adapter ask a cached provider for its tokens."""
    container = create_container(env={**OAUTH, "PORTICO_DATA_DIR": str(tmp_path)})
    try:
        crm = container.crm().inner
        assert isinstance(crm, HubSpotCRM)
        assert crm.token is None
        assert isinstance(crm.tokens, CachedTokenProvider)
        assert "VALUE" not in repr(crm)
        assert "VALUE" not in repr(crm.tokens)
    finally:
        await aclose_container(container)


async def test_a_redis_token_store_is_built_from_its_url(tmp_path: Path, redis_url: str) -> None:
    """token_store redis shares the tokens through Redis; the URL never shows in a repr."""
    env = {
        **OAUTH,
        "PORTICO_DATA_DIR": str(tmp_path),
        "PORTICO_HUBSPOT__TOKEN_STORE": "redis",
        "PORTICO_HUBSPOT__TOKEN_STORE_URL": redis_url,
    }
    container = create_container(env=env)
    try:
        crm = container.crm().inner
        assert isinstance(crm, HubSpotCRM)
        assert isinstance(crm.tokens, CachedTokenProvider)
        assert isinstance(crm.tokens.store, RedisTokenStore)
        assert redis_url not in repr(crm.tokens)
    finally:
        await aclose_container(container)
