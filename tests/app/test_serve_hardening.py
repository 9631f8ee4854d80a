"""`portico serve` hardening: no query strings in the access log, safe config errors, closing."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.app.entrypoints.access_log import DropQueryStrings, install_access_log_filter
from portico.app.entrypoints.cli import main
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.lifecycle import aclose_container, aclose_objects
from portico.app.wiring.webhooks import DEV_SECRETS


FAKE_SECRET = "sk_live_51FAKEsecretDoNotLeak0123456789"
BROKEN_YAML = f"environment: fake\nstripe:\n  api_key: {FAKE_SECRET}\n  extra: [unclosed\nx: 1\n"


def _access_record(path: str) -> logging.LogRecord:
    """A record shaped like uvicorn's: client, method, full path, HTTP version, status."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def test_filter_keeps_method_path_and_status_and_drops_the_query() -> None:
    """The verify token in the query never reaches the formatted access line."""
    record = _access_record("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=tok123")
    assert DropQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /webhooks/whatsapp HTTP/1.1" 200'


def test_filter_strips_queries_from_records_of_another_shape() -> None:
    """A record that is not uvicorn's 5-tuple still loses every query string."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "hit %s", ("/a?token=tok123 ok",), None
    )
    DropQueryStrings().filter(record)
    assert record.getMessage() == "hit /a ok"


def test_installing_the_filter_is_idempotent() -> None:
    """Installing twice adds one filter."""
    logger = logging.getLogger("test.access.idempotent")
    first = install_access_log_filter(logger)
    assert install_access_log_filter(logger) is first
    assert logger.filters == [first]


def test_serve_access_log_has_no_verify_token(tmp_path: Path) -> None:
    """Over real HTTP at log level info, the handshake is logged without its query string."""
    token = DEV_SECRETS["whatsapp"]["verify_token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portico.app.entrypoints.cli",
            "serve",
            "--port",
            "0",
            "--log-level",
            "info",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Portico webhooks listening on "), first
        base = first.rsplit(" ", 1)[1].strip()
        query = f"hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        answer = httpx.get(f"{base}/webhooks/whatsapp?{query}")
        assert (answer.status_code, answer.text) == (200, "1158201444")
        wrong = httpx.get(f"{base}/webhooks/whatsapp?{query.replace(token, 'guess-xyz-987')}")
        assert wrong.status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    logged = out + err
    assert '"GET /webhooks/whatsapp HTTP/1.1" 200' in logged
    assert '"GET /webhooks/whatsapp HTTP/1.1" 401' in logged
    assert token not in logged
    assert "guess-xyz-987" not in logged
    assert "hub.challenge" not in logged


def test_broken_yaml_names_line_and_column_but_never_the_line(tmp_path: Path) -> None:
    """A YAML syntax error is a ConfigurationError with a position and no quoted content."""
    path = tmp_path / "portico.yaml"
    path.write_text(BROKEN_YAML)
    with pytest.raises(ConfigurationError) as caught:
        create_container({"config_file": str(path)}, env={})
    message = str(caught.value)
    assert message == "config_file: not valid YAML (line 5, column 2)"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_unreadable_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A directory (or unreadable file) given as config file is a clear one-line error."""
    with pytest.raises(ConfigurationError, match="config_file: cannot be read"):
        create_container({"config_file": str(tmp_path)}, env={})


def test_cli_stderr_on_broken_yaml_carries_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`portico serve --config broken.yaml` exits 1 with a position, no secret, no traceback."""
    path = tmp_path / "portico.yaml"
    path.write_text(BROKEN_YAML)
    assert main(["serve", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err == "portico serve: config_file: not valid YAML (line 5, column 2)\n"
    assert FAKE_SECRET not in captured.out + captured.err


async def test_aclose_container_closes_the_replay_store(tmp_path: Path) -> None:
    """The container's SQLite replay store is closed (and closing again is harmless)."""
    path = tmp_path / "replay.sqlite3"
    container = create_container(
        {"webhooks": {"replay": {"kind": "sqlite", "path": str(path)}}}, env={}
    )
    store = container.replay_store()
    assert isinstance(store, SQLiteReplayStore)
    await store.claim("evt_1", lease_seconds=30)
    assert await aclose_container(container) >= 1
    with pytest.raises(RuntimeError, match="closed"):
        await store.claim("evt_2", lease_seconds=30)
    await aclose_container(container)


async def test_aclose_objects_closes_each_once_and_survives_failures() -> None:
    """aclose is preferred, sync close works, duplicates close once, a failure stops nothing."""
    calls: list[str] = []

    class Async:
        async def aclose(self) -> None:
            calls.append("async")

    class Sync:
        def close(self) -> None:
            calls.append("sync")

    class Broken:
        async def aclose(self) -> None:
            raise OSError("socket gone")

    shared = Async()
    closed = await aclose_objects([shared, Broken(), Sync(), shared, object(), None])
    assert closed == 2
    assert sorted(calls) == ["async", "sync"]
