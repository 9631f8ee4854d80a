"""Graph as the email vendor: its settings turn the email port on, with client credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from portico import create_container
from portico.adapters.graph import GraphEmail
from portico.adapters.oauth import CachedTokenProvider
from portico.app.wiring.lifecycle import aclose_container
from portico.domain.errors import ConfigurationError


GRAPH = {
    "PORTICO_ENVIRONMENT": "production",
    "PORTICO_GRAPH__TENANT_ID": "contoso.onmicrosoft.com",
    "PORTICO_GRAPH__CLIENT_ID": "app-id",
    "PORTICO_GRAPH__CLIENT_SECRET": "graph-secret-VALUE",
}


async def test_graph_settings_enable_the_email_port(tmp_path: Path) -> None:
    """The three credentials make the email port GraphEmail with a cached token provider."""
    container = create_container(env={**GRAPH, "PORTICO_DATA_DIR": str(tmp_path)})
    try:
        assert container.settings().ports["email"] == "graph"
        adapter = container.email().inner
        assert isinstance(adapter, GraphEmail)
        assert isinstance(adapter.tokens, CachedTokenProvider)
        assert "VALUE" not in repr(adapter)
        assert "VALUE" not in repr(container.settings().vendors["graph"])
    finally:
        await aclose_container(container)


def test_a_missing_secret_is_named_without_values() -> None:
    """Without the client secret the container refuses to start, naming the variable."""
    env = {k: v for k, v in GRAPH.items() if k != "PORTICO_GRAPH__CLIENT_SECRET"}
    with pytest.raises(ConfigurationError, match="PORTICO_GRAPH__CLIENT_SECRET"):
        create_container(env={**env, "PORTICO_EMAIL__PROVIDER": "graph"})
