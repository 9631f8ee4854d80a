"""
A vendor defined here, in the test suite, plugged into Portico through the vendor registry.

Proves that adding a vendor for an existing port needs no edit to Portico: `TOY_SPEC` is
registered with ``create_container(vendors=[TOY_SPEC])``, selected with ``crm.provider``, its
settings section is validated like a built-in vendor's, and the CRM contract suite runs against
``container.crm()`` (the toy adapter behind its own resilience pipeline). The toy's CRM keeps
its records in memory: it is built on the shipped fake, which passes the same contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from portico import create_container
from portico.adapters.fakes import FakeCRM
from portico.adapters.resilience import ResiliencePolicy
from portico.adapters.spec import BuildContext, VendorSpec, setting
from tests.contract.harness import Harness, Registry
from tests.contract.impls.fakes import FakeCRMControls


@attrs.frozen
class ToySettings:
    """The ``toycrm`` section."""

    account: str = setting("the toy account's name")
    token: str = setting("the toy's API token", secret=True)


class ToyCRM(FakeCRM):
    """The toy vendor's adapter: an in-memory CRM that remembers which account it serves."""

    def __init__(self, account: str) -> None:
        super().__init__()
        self.account = account


def build(settings: ToySettings, context: BuildContext) -> ToyCRM:
    """The toy adapter from its validated settings."""
    return ToyCRM(settings.account)


TOY_SPEC = VendorSpec(
    name="toycrm",
    port="crm",
    settings=ToySettings,
    build=build,
    policy=ResiliencePolicy(retry_attempts=1, rate=None),
    summary="a toy CRM defined in the test suite",
)

TOY_CONFIG: dict[str, Any] = {
    "environment": "sandbox",
    "data_dir": "/nonexistent-never-opened",
    "crm": {"provider": "toycrm"},
    "toycrm": {"account": "clinic-a", "token": "toy-secret-token"},
}


@asynccontextmanager
async def toy_crm_through_the_container() -> AsyncIterator[Harness[Any]]:
    """``container.crm()`` of a container that knows the toy vendor only through its spec."""
    container = create_container(TOY_CONFIG, env={}, vendors=[TOY_SPEC])
    adapter = container.crm_adapter()
    assert isinstance(adapter, ToyCRM)
    assert adapter.account == "clinic-a"
    yield Harness(container.crm(), FakeCRMControls(adapter))


FACTORIES: Registry = {"crm": {"toy-vendor-via-container": toy_crm_through_the_container}}
