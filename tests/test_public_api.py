"""Every package's public surface is exactly its ``__all__``, and the distribution is typed."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import pkgutil
import types

import pytest


ROOTS = ("domain", "ports", "adapters", "app")


def _packages() -> list[str]:
    found = []
    for root in ROOTS:
        package = importlib.import_module(root)
        found.append(root)
        found.extend(
            info.name
            for info in pkgutil.walk_packages(package.__path__, prefix=f"{root}.")
            if info.ispkg
        )
    return found


@pytest.mark.parametrize("name", _packages())
def test_all_lists_exactly_the_public_names(name: str) -> None:
    """A package with __all__ exports every public name it binds, and only names that exist."""
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    if exported is None:
        public = [
            attr
            for attr, value in vars(package).items()
            if not attr.startswith("_")
            and not isinstance(value, types.ModuleType)
            and getattr(value, "__module__", name).startswith(name)
            and attr not in {"annotations"}
        ]
        assert public == [], f"{name} binds public names without an __all__: {public}"
        return
    for attr in exported:
        assert hasattr(package, attr), f"{name}.__all__ names {attr!r}, which does not exist"
    bound = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and attr != "annotations"
    }
    assert bound <= set(exported), f"{name} binds public names missing from __all__"
    assert len(exported) == len(set(exported))


@pytest.mark.parametrize("root", ROOTS)
def test_every_top_level_package_ships_py_typed(root: str) -> None:
    """Type checkers see the inline types of every package (PEP 561)."""
    assert importlib.resources.files(root).joinpath("py.typed").is_file()


def test_the_console_script_is_installed() -> None:
    """`portico` is an entry point of the installed distribution."""
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert any(ep.name == "portico" and ep.value == "app.cli:main" for ep in scripts)
