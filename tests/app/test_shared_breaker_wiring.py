"""The shared breaker from settings: opt-in per integration, every problem at start-up, and a
trip in one process shown by another's `portico health` and ``/healthz`` with its worker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from portico.adapters.resilience import SharedBreakerState, worker_id
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.entrypoints.cli import main
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings
from portico.domain.errors import IntegrationError, Unavailable


HUBSPOT = {"PORTICO_ENVIRONMENT": "sandbox", "PORTICO_HUBSPOT__TOKEN": "pat-na1-secret"}


def test_bad_shared_breaker_settings_are_all_named_at_once() -> None:
    env = {
        **HUBSPOT,
        "PORTICO_RESILIENCE__HUBSPOT__SHARED_BREAKER": "true",
        "PORTICO_RESILIENCE__SHARED__BREAKER_INTERVAL": "0",
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env=env)
    text = str(caught.value)
    assert "resilience.shared.redis_url: is required by shared_breaker of hubspot" in text
    assert "resilience.shared.breaker_interval: must be above 0 and at most 60 seconds" in text


def test_a_trip_in_one_process_shows_in_another_health_report(
    redis_url: str, tmp_path, monkeypatch, capsys
) -> None:
    """`portico health` in a fresh process reads the shared circuit: open, and who tripped it."""
    monkeypatch.chdir(tmp_path)
    env = {
        **HUBSPOT,
        "PORTICO_DATA_DIR": str(tmp_path),
        "PORTICO_RESILIENCE__HUBSPOT__SHARED_BREAKER": "yes",
        "PORTICO_RESILIENCE__HUBSPOT__FAILURE_THRESHOLD": "1",
        "PORTICO_RESILIENCE__HUBSPOT__RETRY_ATTEMPTS": "1",
        "PORTICO_RESILIENCE__SHARED__REDIS_URL": redis_url,
        "PORTICO_RESILIENCE__SHARED__BREAKER_PREFIX": f"test:{uuid.uuid4().hex}:",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def trip() -> dict[str, object]:
        container = create_container(env=env)
        try:
            pipeline = container.crm_pipeline()
            assert isinstance(pipeline.shared, SharedBreakerState)

            async def down() -> None:
                raise Unavailable("503", integration="hubspot")

            with pytest.raises(IntegrationError):
                await pipeline.call("get_contact", down, idempotent=True)
            await pipeline.shared.drain()
            app = create_webhook_app(container)
            return (await app.liveness()).body  # type: ignore[return-value]
        finally:
            await aclose_container(container)

    body = asyncio.run(trip())
    assert body["status"] == "ok"
    circuit = body["shared_breakers"]["hubspot"]  # type: ignore[index]
    assert circuit["state"] == "open"
    assert circuit["tripped_by"] == worker_id()
    assert circuit["redis"] is True
    assert main(["health", "--format", "text"]) == 1  # a refusing circuit: unhealthy
    out = capsys.readouterr().out
    assert "Shared circuit" in out
    assert f"open by {worker_id()}" in out


async def test_without_opting_in_the_breaker_stays_local(tmp_path) -> None:
    container = create_container(env={**HUBSPOT, "PORTICO_DATA_DIR": str(tmp_path)})
    try:
        assert container.crm_pipeline().shared is None
        assert container.shared_redis() is None
        assert (await create_webhook_app(container).liveness()).body == {"status": "ok"}
    finally:
        await aclose_container(container)
