"""The container builds StripePayments and HubSpotCRM from PORTICO_* settings, or names gaps."""

from __future__ import annotations

from typing import Any

import pytest

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.stripe import StripePayments
from portico.app.wiring.adapters import build_crm, build_payments, check_production_config, setting
from portico.app.wiring.container import ConfigurationError, Container, env_config


def _container(config: dict[str, Any]) -> Container:
    container = Container()
    container.config.from_dict(config)
    return container


def test_flat_and_nested_names_are_both_read() -> None:
    """PORTICO_STRIPE_API_KEY (flat) and PORTICO_STRIPE__API_KEY (nested) both count."""
    assert setting(env_config({"PORTICO_STRIPE_API_KEY": "sk_test_1"}), "stripe_api_key")
    assert setting(env_config({"PORTICO_STRIPE__API_KEY": "sk_test_1"}), "stripe_api_key")
    assert setting({"stripe_api_key": "  "}, "stripe_api_key") is None


def test_check_names_every_missing_variable() -> None:
    """Missing Stripe and HubSpot credentials are both named, and nothing else of ours."""
    missing = check_production_config({"environment": "production"})
    assert {"PORTICO_STRIPE_API_KEY", "PORTICO_HUBSPOT_TOKEN"} <= set(missing)
    present = check_production_config({"stripe_api_key": "sk_test_1", "hubspot_token": "pat-1"})
    assert "PORTICO_STRIPE_API_KEY" not in present
    assert "PORTICO_HUBSPOT_TOKEN" not in present


@pytest.mark.parametrize("provider", ["payments_adapter", "crm_adapter"])
def test_a_missing_credential_fails_at_build_naming_the_variables(provider: str) -> None:
    """Resolving the sandbox adapter without credentials raises a ConfigurationError by name."""
    container = _container({"environment": "sandbox"})
    with pytest.raises(ConfigurationError) as caught:
        getattr(container, provider)()
    expected = (
        "PORTICO_STRIPE_API_KEY" if provider == "payments_adapter" else "PORTICO_HUBSPOT_TOKEN"
    )
    assert expected in str(caught.value)


async def test_the_sandbox_builds_the_http_adapters() -> None:
    """With credentials, sandbox resolves to the real adapters; the secrets stay out of reprs."""
    container = _container(
        {
            "environment": "sandbox",
            "stripe_api_key": "sk_test_abc123",
            "hubspot_token": "pat-na1-xyz789",
            "hubspot": {"default_currency": "RON"},
        }
    )
    payments = container.payments_adapter()
    crm = container.crm_adapter()
    assert isinstance(payments, StripePayments)
    assert isinstance(crm, HubSpotCRM)
    assert crm.default_currency == "RON"
    assert "sk_test_abc123" not in repr(payments)
    assert "pat-na1-xyz789" not in repr(crm)
    await payments.aclose()
    await crm.aclose()


def test_the_sandbox_refuses_a_live_stripe_key() -> None:
    """A live key in the sandbox is refused, without echoing it."""
    with pytest.raises(ConfigurationError) as caught:
        build_payments({"environment": "sandbox", "stripe_api_key": "sk_live_secret"})
    assert "sk_live_secret" not in str(caught.value)


def test_build_crm_without_token_names_it() -> None:
    """build_crm alone also fails naming the token variable."""
    with pytest.raises(ConfigurationError, match="PORTICO_HUBSPOT_TOKEN"):
        build_crm({"environment": "production", "stripe_api_key": "sk_live_1"})
