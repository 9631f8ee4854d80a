"""
Parametrise the port fixtures over every implementation registered in ``tests/contract/impls``.

Each module there defines ``FACTORIES[port][impl_id]``; a test that asks for ``payments`` runs
once per payments implementation, with ids such as ``[fake]`` or ``[stripe-http]``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator

import pytest

from portico.ports.execute import PORTS as PORT_PROTOCOLS
from tests.contract import impls
from tests.contract.harness import Factory, Harness, Registry


PORTS = tuple(PORT_PROTOCOLS)  # one contract suite per port, named as commands name it


def discover() -> Registry:
    """Merge the FACTORIES of every module in ``impls``; an id registered twice is an error."""
    registry: Registry = {port: {} for port in PORTS}
    for info in sorted(pkgutil.iter_modules(impls.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{impls.__name__}.{info.name}")
        factories = getattr(module, "FACTORIES", None)
        if not isinstance(factories, dict):
            raise TypeError(f"{module.__name__} must define FACTORIES: dict[port, dict[id, ...]]")
        for port, by_id in factories.items():
            if port not in registry:
                raise ValueError(f"{module.__name__}: unknown port {port!r}, expected {PORTS}")
            for impl_id, factory in by_id.items():
                if impl_id in registry[port]:
                    raise ValueError(f"{module.__name__}: {port}/{impl_id} is registered twice")
                registry[port][impl_id] = factory
    return registry


REGISTRY = discover()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each contract test once per implementation of the port fixture it uses."""
    for port in PORTS:
        if port in metafunc.fixturenames:
            params = [pytest.param(f, id=i) for i, f in sorted(REGISTRY[port].items())]
            metafunc.parametrize(port, params, indirect=True)


async def _open(request: pytest.FixtureRequest) -> AsyncIterator[Harness[object]]:
    factory: Factory = request.param
    async with factory() as harness:
        yield harness


@pytest.fixture
async def messaging(request: pytest.FixtureRequest) -> AsyncIterator[Harness[object]]:
    """A messaging implementation under contract."""
    async for harness in _open(request):
        yield harness


@pytest.fixture
async def crm(request: pytest.FixtureRequest) -> AsyncIterator[Harness[object]]:
    """A CRM implementation under contract."""
    async for harness in _open(request):
        yield harness


@pytest.fixture
async def payments(request: pytest.FixtureRequest) -> AsyncIterator[Harness[object]]:
    """A payments implementation under contract."""
    async for harness in _open(request):
        yield harness


@pytest.fixture
async def voice(request: pytest.FixtureRequest) -> AsyncIterator[Harness[object]]:
    """A voice implementation under contract."""
    async for harness in _open(request):
        yield harness


@pytest.fixture
async def email(request: pytest.FixtureRequest) -> AsyncIterator[Harness[object]]:
    """An email implementation under contract."""
    async for harness in _open(request):
        yield harness


# A port without a fixture here would silently have no contract suite.
_MISSING = [port for port in PORTS if port not in globals()]
if _MISSING:
    raise RuntimeError(f"tests/contract/conftest.py: no fixture for port(s) {_MISSING}")
