"""A vendor from outside Portico is registered, configured and validated like a built-in one."""

from __future__ import annotations

import pytest
from tests.contract.impls.toy_vendor import TOY_CONFIG, TOY_SPEC, ToyCRM

from portico import ConfigurationError, create_container
from portico.app.wiring.registry import VendorRegistry
from portico.app.wiring.settings import settings_reference


def test_the_toy_vendor_serves_the_crm_port_through_the_container() -> None:
    """Selected by crm.provider, built from its own section, wrapped in its own pipeline."""
    container = create_container(TOY_CONFIG, env={}, vendors=[TOY_SPEC])
    assert isinstance(container.crm_adapter(), ToyCRM)
    assert container.crm_pipeline().integration == "toycrm"
    assert container.settings().ports["crm"] == "toycrm"
    assert "toy-secret-token" not in repr(container.settings().vendors["toycrm"])


def test_the_toy_vendors_settings_are_validated_with_the_rest() -> None:
    """A missing toy setting and a typo are named together with Portico's own problems."""
    config = {**TOY_CONFIG, "toycrm": {"acount": "x"}, "outbox": {"kind": "mongo"}}
    with pytest.raises(ConfigurationError) as caught:
        create_container(config, env={}, vendors=[TOY_SPEC])
    text = str(caught.value)
    assert "toycrm.account: is required (PORTICO_TOYCRM__ACCOUNT)" in text
    assert "did you mean 'account'?" in text
    assert "outbox.kind" in text


def test_without_the_spec_the_toy_is_an_unknown_provider() -> None:
    """Naming a vendor nobody registered is a configuration error with the known ones listed."""
    with pytest.raises(ConfigurationError, match=r"crm\.provider: 'toycrm' is not one of hubspot"):
        create_container(TOY_CONFIG, env={})


def test_the_toy_appears_in_the_settings_reference() -> None:
    """The reference table is generated from the registered specs, the toy's included."""
    table = settings_reference(VendorRegistry.builtin([TOY_SPEC]))
    assert "`PORTICO_TOYCRM__ACCOUNT` | **required**" in table
    assert "`PORTICO_TOYCRM__TOKEN`" in table


def test_a_spec_for_an_unknown_port_or_a_taken_name_is_refused() -> None:
    """The registry refuses what it could not wire."""
    import attrs

    with pytest.raises(ConfigurationError, match="port 'fax'"):
        VendorRegistry.builtin([attrs.evolve(TOY_SPEC, port="fax")])
    with pytest.raises(ConfigurationError, match="already registered"):
        VendorRegistry.builtin([attrs.evolve(TOY_SPEC, name="hubspot")])
