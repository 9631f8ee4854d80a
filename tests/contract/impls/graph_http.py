"""`GraphEmail` under the email contract, against the Graph simulator, as ``graph-http``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from portico.adapters.graph import GraphEmail
from portico.adapters.oauth import CachedTokenProvider, ClientCredentialsGrant, microsoft_token_url
from tests.contract.harness import MAILBOX, Delivered, Harness, Registry
from tests.simulators.graph import GraphSimulator
from tests.simulators.oauth import CLIENT_ID, CLIENT_SECRET


GRAPH = "https://graph.microsoft.com"


@attrs.frozen
class GraphControls:
    """The recipients' mailboxes, read from the simulator."""

    simulator: GraphSimulator

    async def delivered(self, address: str) -> list[Delivered]:
        """The messages Graph accepted for ``address``."""
        return [Delivered(m.subject, m.attachments) for m in self.simulator.delivered_to(address)]


def graph_email(simulator: GraphSimulator) -> GraphEmail:
    """The real adapter and its token provider, both over the simulator."""
    transport = httpx.ASGITransport(app=simulator)
    grant = ClientCredentialsGrant(
        integration="graph",
        token_url=microsoft_token_url(
            "contoso.onmicrosoft.com", "https://login.microsoftonline.com"
        ),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        http=httpx.AsyncClient(transport=transport),
    )
    tokens = CachedTokenProvider(grant, key="graph:contract")
    http = httpx.AsyncClient(transport=transport, base_url=GRAPH)
    return GraphEmail(http=http, tokens=tokens)


@asynccontextmanager
async def graph_harness() -> AsyncIterator[Harness[Any]]:
    """GraphEmail over httpx, the tenant played by the ASGI simulator."""
    simulator = GraphSimulator(mailboxes=(MAILBOX,))
    adapter = graph_email(simulator)
    try:
        yield Harness(adapter, GraphControls(simulator))
    finally:
        await adapter.aclose()


FACTORIES: Registry = {"email": {"graph-http": graph_harness}}
