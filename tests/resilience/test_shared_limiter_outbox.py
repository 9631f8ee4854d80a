"""
Redis killed while the relay drains HubSpot commands through the shared rate limit, then
restarted: the relay never crashes, the local fallback (quota / expected workers) holds while
Redis is away, and every command of the outbox reaches HubSpot exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from portico.adapters.resilience import SharedRateLimiter
from portico.app.wiring.container import create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.domain.commands import AddNote
from portico.domain.crm import ContactDraft
from tests.resilience.conftest import RestartableRedis
from tests.resilience.test_limiter import max_in_window
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.quota import QuotaGate
from tests.simulators.server import serve


pytestmark = [pytest.mark.redis, pytest.mark.slow]

TOKEN = "pat-na1-outbox-redis"
RATE, BURST, WORKERS = 40.0, 4, 2  # the fallback: 20/s per process while Redis is away
NOTES, CONTACTS = 120, 4


async def _wait_for(predicate: object, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_redis_killed_mid_drain_loses_nothing_and_the_fallback_holds(
    tmp_path: Path, restartable_redis: RestartableRedis
) -> None:
    sim = HubSpotSimulator(token=TOKEN)
    gate = QuotaGate(sim, limit=int(RATE + BURST) + 3, window=1.0)  # 3 for arrival jitter
    with serve(gate) as url:
        container = create_container(
            env={
                "PORTICO_ENVIRONMENT": "sandbox",
                "PORTICO_DATA_DIR": str(tmp_path),
                "PORTICO_HUBSPOT__TOKEN": TOKEN,
                "PORTICO_HUBSPOT__BASE_URL": url,
                "PORTICO_RESILIENCE__HUBSPOT__SHARED_LIMITS": "true",
                "PORTICO_RESILIENCE__HUBSPOT__RATE": str(RATE),
                "PORTICO_RESILIENCE__HUBSPOT__BURST": str(BURST),
                "PORTICO_RESILIENCE__SHARED__REDIS_URL": restartable_redis.url,
                "PORTICO_RESILIENCE__SHARED__EXPECTED_WORKERS": str(WORKERS),
                "PORTICO_RESILIENCE__SHARED__RETRY_INTERVAL": "0.5",
            }
        )
        try:
            limiter = container.crm_pipeline().limiter
            assert isinstance(limiter, SharedRateLimiter)
            crm = container.crm()
            contacts = [
                await crm.upsert_contact(ContactDraft(phone=f"+40712345{n:03d}"))
                for n in range(CONTACTS)
            ]
            outbox = container.outbox()
            for n in range(NOTES):
                await outbox.enqueue(AddNote(contacts[n % CONTACTS].id, f"reminder {n}"))
            gate.reset()
            relay = container.relay()
            draining = asyncio.create_task(relay.run(until_idle=True))

            await _wait_for(lambda: relay.stats.delivered >= NOTES // 4)
            restartable_redis.stop()
            killed = time.monotonic()
            await _wait_for(lambda: not limiter.is_shared())
            await _wait_for(lambda: relay.stats.delivered >= NOTES // 2)
            restarted = time.monotonic()
            restartable_redis.start()
            await asyncio.wait_for(draining, timeout=60)
            assert limiter.is_shared()  # back on Redis once it answered again
        finally:
            await aclose_container(container)

    notes = [n["properties"]["hs_note_body"] for n in sim.objects["notes"].values()]
    assert sorted(notes) == sorted(f"reminder {n}" for n in range(NOTES))  # once each
    assert relay.stats.delivered == NOTES
    assert relay.stats.dead == 0
    # No 429: the limit never went away, and every HTTP request took a token (add_note sends two).
    assert gate.refused_at == [], [round(t - killed, 2) for t in gate.refused_at]
    away = [t - killed for t in gate.arrivals if killed + 0.5 < t < restarted]
    fallback = RATE / WORKERS
    for window in (0.5, 1.0):
        assert max_in_window(away, window) <= BURST + fallback * window + 1
    print(  # noqa: T201 - what the outage looked like
        f"\nRedis away {restarted - killed:.1f}s: {len(away)} requests "
        f"(fallback {fallback:g}/s); {NOTES} notes delivered once each, 0 x 429"
    )
