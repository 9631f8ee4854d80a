"""The container builds StripePayments and HubSpotCRM from PORTICO_* settings, or names gaps."""

from __future__ import annotations

from typing import Any

import pytest

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.stripe import StripePayments
from portico.adapters.stripe.spec import StripeSettings
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings


SANDBOX = {"PORTICO_ENVIRONMENT": "sandbox"}


@pytest.mark.parametrize("name", ["PORTICO_STRIPE_API_KEY", "PORTICO_STRIPE__API_KEY"])
def test_flat_and_nested_names_are_both_read(name: str) -> None:
    """PORTICO_STRIPE_API_KEY (flat) and PORTICO_STRIPE__API_KEY (nested) both count."""
    settings = load_settings(env={**SANDBOX, name: "sk_test_1"})
    stripe = settings.vendors["stripe"]
    assert isinstance(stripe, StripeSettings)
    assert stripe.api_key == "sk_test_1"
    assert settings.ports["payments"] == "stripe"


def test_a_blank_key_counts_as_missing() -> None:
    """A key of only spaces is not a key: the selected vendor's setting is reported missing."""
    with pytest.raises(ConfigurationError, match=r"stripe\.api_key: is required"):
        load_settings({"stripe_api_key": "  "}, env=SANDBOX)


def test_check_names_every_missing_variable() -> None:
    """Missing Stripe and HubSpot credentials are both named, at once, and nothing else."""
    config = {"environment": "production", "payments_provider": "stripe", "crm_provider": "hubspot"}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(config, env={})
    assert caught.value.problems == (
        "hubspot.token: is required (PORTICO_HUBSPOT__TOKEN)",
        "stripe.api_key: is required (PORTICO_STRIPE__API_KEY)",
    )
    present = load_settings(
        {"environment": "production", "stripe_api_key": "sk_test_1", "hubspot_token": "pat-1"},
        env={},
    )
    assert (present.ports["payments"], present.ports["crm"]) == ("stripe", "hubspot")


@pytest.mark.parametrize(
    ("port", "variable"),
    [("payments", "PORTICO_STRIPE__API_KEY"), ("crm", "PORTICO_HUBSPOT__TOKEN")],
)
def test_a_missing_credential_fails_at_start_up_naming_the_variable(
    port: str, variable: str
) -> None:
    """A sandbox port whose vendor lacks its credential fails create_container by name."""
    vendor = {"payments": "stripe", "crm": "hubspot"}[port]
    with pytest.raises(ConfigurationError) as caught:
        create_container({"environment": "sandbox", port: {"provider": vendor}}, env={})
    assert variable in str(caught.value)


async def test_the_sandbox_builds_the_http_adapters() -> None:
    """With credentials, sandbox resolves to the real adapters; the secrets stay out of reprs."""
    config: dict[str, Any] = {
        "environment": "sandbox",
        "stripe_api_key": "sk_test_abc123",
        "hubspot_token": "pat-na1-xyz789",
        "hubspot": {"default_currency": "RON"},
    }
    container = create_container(config, env={})
    try:
        payments = container.payments_adapter()
        crm = container.crm_adapter()
        assert isinstance(payments, StripePayments)
        assert isinstance(crm, HubSpotCRM)
        assert crm.default_currency == "RON"
        assert "sk_test_abc123" not in repr(payments)
        assert "pat-na1-xyz789" not in repr(crm)
        settings = container.settings()
        for shown in (repr(settings), *map(repr, settings.vendors.values())):
            assert "sk_test_abc123" not in shown
            assert "pat-na1-xyz789" not in shown
        assert (settings.ports["messaging"], settings.ports["voice"]) == (None, None)
    finally:
        await aclose_container(container)


def test_the_sandbox_refuses_a_live_stripe_key() -> None:
    """A live key in the sandbox is refused, without echoing it."""
    with pytest.raises(ConfigurationError, match="live key") as caught:
        create_container({"environment": "sandbox", "stripe_api_key": "sk_live_secret"}, env={})
    assert "sk_live_secret" not in str(caught.value)


def test_a_missing_hubspot_token_is_named_beside_a_valid_stripe_key() -> None:
    """The CRM alone lacking its token fails naming the token variable."""
    config = {"environment": "production", "crm_provider": "hubspot", "stripe_api_key": "sk_live_1"}
    with pytest.raises(ConfigurationError, match="PORTICO_HUBSPOT__TOKEN") as caught:
        create_container(config, env={})
    assert "sk_live_1" not in str(caught.value)


def test_the_default_stripe_version_is_the_one_stripe_python_pins() -> None:
    """
    The default Stripe-Version is the installed stripe-python's pinned version.

    stripe/stripe-python keeps it in ``stripe/_api_version.py`` (``_ApiVersion.CURRENT``,
    ``2026-10-28.endive`` in 16.1.0); an upgrade of the dev dependency fails here first.
    """
    from stripe._api_version import _ApiVersion

    from portico.adapters.stripe.spec import StripeSettings

    assert StripeSettings(api_key="sk_test_x").api_version == _ApiVersion.CURRENT
