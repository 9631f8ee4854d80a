"""`portico.lifespan` as a FastAPI host's ``lifespan=``: starts the relay, stops it, closes up."""

from __future__ import annotations

import asyncio

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

import portico


def _container() -> portico.Container:
    config = {"outbox": {"path": ":memory:"}, "webhooks": {"replay": {"kind": "memory"}}}
    return portico.create_container(config, env={})


async def test_fastapi_runs_the_relay_for_as_long_as_the_host_runs():
    """Start-up succeeds (no lifespan state is yielded), the relay runs, shutdown stops it."""
    lifespan = portico.lifespan(_container())
    api = FastAPI(lifespan=lifespan)

    @api.get("/relay")
    async def relay() -> dict[str, bool]:
        task = lifespan.relay_task
        return {"running": task is not None and not task.done()}

    async with LifespanManager(api) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as client:
            assert (await client.get("/relay")).json() == {"running": True}
    assert lifespan.relay_task is None


async def test_relay_false_leaves_delivery_to_portico_relay():
    """With relay=False the host starts and stops, and no relay task is made."""
    lifespan = portico.lifespan(_container(), relay=False)
    async with LifespanManager(FastAPI(lifespan=lifespan)):
        assert lifespan.relay_task is None


async def test_used_directly_it_yields_the_container():
    """``async with portico.lifespan(container) as c`` hands the container back."""
    container = _container()
    async with portico.lifespan(container) as entered:
        assert entered is container
        await asyncio.sleep(0)


async def test_leaving_the_lifespan_closes_every_store_thread(tmp_path):
    """SQLite stores run on worker threads: after the lifespan none of Portico's is left."""
    import threading

    before = set(threading.enumerate())  # threads other tests' objects may still hold
    container = portico.create_container({"data_dir": str(tmp_path)}, env={})
    async with portico.lifespan(container):
        ingress = container.webhook_ingress()
        assert ingress.failed_log is not None
        await ingress.failed_log.count()  # opens the failed-event log's SQLite file
        await container.outbox().status()
        opened = {t.name for t in threading.enumerate()} - {"MainThread"}
    assert opened, "the SQLite stores should have started their worker threads"
    for _ in range(50):
        left = {
            t.name
            for t in threading.enumerate()
            if t.name.startswith("portico") and t not in before
        }
        if not left:
            break
        await asyncio.sleep(0.02)
    assert not left, f"threads left running: {sorted(left)}"
