"""
The Redis replay store on a bad day: a frozen server fails a call within its timeout, and a
server that would forget the dedup keys on a restart is reported once at first use.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from portico.adapters.stores.redis_store import RedisReplayStore
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import build_replay_store
from portico.domain.errors import ConfigurationError, Unavailable
from tests.conftest import _missing, private_redis


@pytest.fixture
async def frozen_redis() -> AsyncIterator[str]:
    """A TCP server that accepts every connection, reads what is sent and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_frozen_redis_fails_the_claim_within_the_socket_timeout(frozen_redis: str) -> None:
    """Connected but never answered: `Unavailable` after about the timeout, never a hang."""
    store = RedisReplayStore(frozen_redis, socket_timeout=0.3, connect_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable) as raised:
            await asyncio.wait_for(store.claim("stripe:evt_1", lease_seconds=60), timeout=30)
        elapsed = time.monotonic() - started
    finally:
        await store.close()
    assert raised.value.integration == "replay_store"
    assert raised.value.request_sent is False
    assert "Timeout" in str(raised.value)
    assert elapsed < 10  # one or two timeouts of 0.3 s, with generous room for a busy machine


async def test_a_refused_connection_is_unavailable_too() -> None:
    """Nothing listening: the claim raises `Unavailable`, naming no URL."""
    store = RedisReplayStore("redis://:hunter2@127.0.0.1:1/0", connect_timeout=0.5)
    try:
        with pytest.raises(Unavailable) as raised:
            await store.claim("k", lease_seconds=60)
    finally:
        await store.close()
    assert "hunter2" not in str(raised.value)
    assert "127.0.0.1" not in str(raised.value)


def test_the_settings_set_both_timeouts_on_the_client() -> None:
    """``webhooks.replay.socket_timeout`` and ``connect_timeout`` reach the connection pool."""
    replay: dict[str, object] = {"kind": "redis", "url": "redis://127.0.0.1:1/0"}
    default = build_replay_store(load_settings({"webhooks": {"replay": replay}}, env={}))
    replay.update(socket_timeout=0.5, connect_timeout=0.25)
    tuned = build_replay_store(load_settings({"webhooks": {"replay": replay}}, env={}))
    assert isinstance(default, RedisReplayStore)
    assert isinstance(tuned, RedisReplayStore)
    kwargs = default._client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2.0, 2.0)
    kwargs = tuned._client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.25)


@pytest.mark.parametrize("value", [0, -1, 301])
def test_a_timeout_out_of_range_is_a_configuration_error(value: float) -> None:
    """Zero, negative or above five minutes: refused at load time, with the setting's path."""
    store = {"kind": "redis", "url": "redis://127.0.0.1:1/0", "socket_timeout": value}
    with pytest.raises(ConfigurationError, match=r"webhooks\.replay\.socket_timeout"):
        load_settings({"webhooks": {"replay": store}}, env={})


PERSISTENCE = {
    "aof_off": ((), "has no AOF"),
    "aof_fsync_no": (("--appendonly", "yes", "--appendfsync", "no"), "appendfsync no"),
    "aof_everysec": (("--appendonly", "yes", "--appendfsync", "everysec"), None),
    "aof_off_config_disabled": (("--rename-command", "CONFIG", ""), "has no AOF"),
    "aof_on_config_disabled": (("--appendonly", "yes", "--rename-command", "CONFIG", ""), None),
}


@pytest.mark.redis
@pytest.mark.parametrize(("options", "expected"), PERSISTENCE.values(), ids=list(PERSISTENCE))
async def test_a_server_without_persistence_is_warned_about_once(
    options: tuple[str, ...], expected: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """One WARNING at first use when AOF is off or never fsynced; none with AOF everysec."""
    with private_redis(*options) as url:
        if url is None:
            _missing("redis-server")
        assert url is not None
        with caplog.at_level(logging.WARNING, logger="portico.redis"):
            async with RedisReplayStore(url, prefix=f"p:{uuid.uuid4().hex}:") as store:
                for i in range(3):
                    await store.complete(await store.claim(f"evt_{i}", lease_seconds=60))
                assert await store.check_persistence() == (
                    None if expected is None else store_problem(expected)
                )
    warnings = [r.getMessage() for r in caplog.records if r.name == "portico.redis"]
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 2  # the first use, and the explicit check above
        assert expected in warnings[0]
        assert "appendonly yes" in warnings[0]


def store_problem(expected: str) -> str:
    """The full problem text for a fragment the table above names."""
    return {
        "has no AOF": "has no AOF (appendonly no)",
        "appendfsync no": "has AOF with appendfsync no (the OS decides when writes reach disk)",
    }[expected]
