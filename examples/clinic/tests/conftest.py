"""The clinic's API on a fresh fake Portico per test, with its lifespan running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import portico
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_api


@pytest.fixture
def container(tmp_path: Path) -> portico.Container:
    """Portico's fake environment (no network), its stores in this test's folder."""
    config = {
        "environment": "fake",
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
        "webhooks": {"replay": {"kind": "sqlite", "path": str(tmp_path / "replay.sqlite3")}},
    }
    return portico.create_container(config, env={})


@pytest.fixture
async def client(container: portico.Container) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the API, in process, between its lifespan's start-up and shutdown."""
    async with LifespanManager(create_api(container)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinic.test") as http:
            yield http
