"""Shared rate limits from settings: opt-in per integration, every problem at start-up, wired
into the pipeline, the adapter's header hook and the health lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from portico.adapters.resilience import ResiliencePolicy, SharedRateLimiter
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings


HUBSPOT = {"PORTICO_ENVIRONMENT": "sandbox", "PORTICO_HUBSPOT__TOKEN": "pat-na1-secret"}


def test_bad_shared_settings_are_all_named_at_once() -> None:
    env = {
        **HUBSPOT,
        "PORTICO_RESILIENCE__HUBSPOT__SHARED_LIMITS": "perhaps",
        "PORTICO_RESILIENCE__SHARED__EXPECTED_WORKERS": "0",
        "PORTICO_RESILIENCE__SHARED__TIMEOUT": "60",
        "PORTICO_RESILIENCE__STRIPE__SHARED_LIMTS": "true",
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env=env)
    text = str(caught.value)
    assert "resilience.hubspot.shared_limits: expected true or false" in text
    assert "resilience.shared.expected_workers: must be at least 1" in text
    assert "resilience.shared.timeout: must be above 0 and at most 10 seconds" in text
    assert "did you mean 'shared_limits'?" in text


def test_sharing_limits_needs_the_redis_url_and_a_rate() -> None:
    env = {**HUBSPOT, "PORTICO_RESILIENCE__HUBSPOT__SHARED_LIMITS": "true"}
    with pytest.raises(ConfigurationError, match=r"resilience\.shared\.redis_url: is required"):
        load_settings(env=env)
    with pytest.raises(ValueError, match="shared_limits needs a rate"):
        ResiliencePolicy(shared_limits=True)


async def test_an_integration_that_opts_in_gets_the_shared_limiter(
    tmp_path: Path, redis_url: str
) -> None:
    env = {
        **HUBSPOT,
        "PORTICO_DATA_DIR": str(tmp_path),
        "PORTICO_RESILIENCE__HUBSPOT__SHARED_LIMITS": "yes",
        "PORTICO_RESILIENCE__HUBSPOT__ACCOUNT_KEY": "App-4242",
        "PORTICO_RESILIENCE__SHARED__REDIS_URL": redis_url,
        "PORTICO_RESILIENCE__SHARED__EXPECTED_WORKERS": "4",
    }
    container = create_container(env=env)
    try:
        assert container.settings().policy("hubspot").account_key == "App-4242"  # as given
        limiter = container.crm_pipeline().limiter
        assert isinstance(limiter, SharedRateLimiter)
        assert container.crm_pipeline().feedback is limiter
        assert container.crm_adapter().rate_feedback is limiter
        assert limiter.fallback.rate == pytest.approx(9.0 / 4)
        assert container.breakers().limiter_status() == (
            "hubspot: shared rate limit 9/s burst 10 on Redis",
        )
        await limiter.acquire()
        assert limiter.is_shared()
    finally:
        await aclose_container(container)


async def test_without_opting_in_nothing_touches_redis(tmp_path: Path) -> None:
    env = {**HUBSPOT, "PORTICO_DATA_DIR": str(tmp_path)}
    container = create_container(env=env)
    try:
        assert not isinstance(container.crm_pipeline().limiter, SharedRateLimiter)
        assert container.shared_redis() is None
        assert container.breakers().limiter_status() == ()
    finally:
        await aclose_container(container)
