"""The README's settings table is the settings model's own reference, word for word."""

from __future__ import annotations

from pathlib import Path

import attrs

from portico.app.wiring.registry import BUILTIN_VENDORS, VendorRegistry
from portico.app.wiring.settings import settings_reference


README = Path(__file__).parents[2] / "README.md"
START, END = "<!-- settings-reference:start -->\n", "<!-- settings-reference:end -->"


def test_the_readme_lists_every_setting_of_the_model() -> None:
    """Regenerate the table with `settings_reference()` (portico.app.wiring.settings)."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index(START) + len(START) : text.index(END)]
    assert table == settings_reference()


def test_every_vendor_setting_is_in_the_table_with_its_variable() -> None:
    """Each vendor's section (the *_BASE_URL ones included) has a row per field."""
    table = settings_reference()
    for spec in BUILTIN_VENDORS:
        for field in attrs.fields(spec.settings):
            assert f"`PORTICO_{spec.name.upper()}__{field.name.upper()}`" in table
    assert "`PORTICO_STRIPE__BASE_URL`" in table


def test_the_readme_lists_exactly_the_registered_vendors() -> None:
    """The vendor table is the registry's own rendering: a vendor added there shows up here."""
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- vendors:start -->\n", "<!-- vendors:end -->"
    table = text[text.index(start) + len(start) : text.index(end)]
    assert table == VendorRegistry.builtin().reference()


def test_architecture_names_every_vendor_package() -> None:
    """ARCHITECTURE.md's layout is true: each built-in vendor lives in its own adapters package."""
    src = Path(__file__).parents[2] / "src" / "adapters"
    for spec in BUILTIN_VENDORS:
        module = spec.build.__module__.split(".")
        assert module[:2] == ["portico", "adapters"]
        assert module[-1] == "spec"
        assert (src / module[2] / "spec.py").is_file()
