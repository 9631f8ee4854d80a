"""The composition root: environments, configuration layers, overrides and start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers

from portico.adapters.fakes import FakeCRM, FakeEmail, FakeMessaging, FakePayments, FakeVoice
from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.resilience import ResilientMessaging
from portico.adapters.stripe import StripePayments
from portico.adapters.twilio import TwilioMessaging
from portico.adapters.vapi import VapiVoice
from portico.adapters.whatsapp import WhatsAppMessaging
from portico.app.services.follow_up_calls import FollowUpCalls
from portico.app.services.lead_intake import LeadIntake
from portico.app.services.payment_collection import PaymentCollection
from portico.app.wiring.container import (
    ConfigurationError,
    Container,
    PortDisabled,
    create_container,
)
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.registry import PORT_NAMES, VendorRegistry
from portico.app.wiring.settings import env_config
from portico.domain.crm import DealStage
from portico.ports.crm import CRMPort
from portico.ports.email import EmailPort
from portico.ports.messaging import MessagingPort
from portico.ports.payments import PaymentPort
from portico.ports.voice import VoicePort


PORTS = ("messaging", "crm", "payments", "voice", "email")


def test_the_default_environment_is_fake_with_every_port_a_resilient_fake() -> None:
    """With no configuration at all, every port is its in-memory fake inside its pipeline."""
    container = create_container(env={})
    assert container.environment() == "fake"
    assert isinstance(container.messaging(), ResilientMessaging)
    assert isinstance(container.messaging().inner, FakeMessaging)
    assert isinstance(container.crm().inner, FakeCRM)
    assert isinstance(container.payments().inner, FakePayments)
    assert isinstance(container.voice().inner, FakeVoice)
    assert isinstance(container.email().inner, FakeEmail)
    protocols = (MessagingPort, CRMPort, PaymentPort, VoicePort, EmailPort)
    for port, protocol in zip(PORTS, protocols, strict=True):
        assert isinstance(getattr(container, port)(), protocol)


@pytest.mark.parametrize("port", PORTS)
def test_every_port_has_an_adapter_a_pipeline_and_a_vendor(port: str) -> None:
    """Each port has its raw adapter, pipeline and wrapped providers and a built-in vendor."""
    assert PORTS == PORT_NAMES
    for name in (f"{port}_adapter", f"{port}_pipeline", port):
        assert isinstance(getattr(Container, name), providers.Provider)
    assert VendorRegistry.builtin().for_port(port)


SELECT_EVERY_VENDOR = {
    "messaging": {"provider": "whatsapp"},
    "crm": {"provider": "hubspot"},
    "payments": {"provider": "stripe"},
    "voice": {"provider": "vapi"},
}


@pytest.mark.parametrize("environment", ["sandbox", "production"])
def test_http_environments_fail_at_start_up_naming_every_missing_variable(environment: str) -> None:
    """Every vendor selected without settings fails in create_container, naming all that lacks."""
    with pytest.raises(ConfigurationError) as caught:
        create_container({"environment": environment, **SELECT_EVERY_VENDOR}, env={})
    message = str(caught.value)
    for name in (
        "PORTICO_STRIPE__API_KEY",
        "PORTICO_HUBSPOT__TOKEN",
        "PORTICO_WHATSAPP__TOKEN",
        "PORTICO_WHATSAPP__PHONE_NUMBER_ID",
        "PORTICO_VAPI__API_KEY",
        "PORTICO_VAPI__PHONE_NUMBER_ID",
    ):
        assert name in message
    assert len(caught.value.problems) == 6


@pytest.mark.parametrize("environment", ["sandbox", "production"])
def test_an_http_environment_enabling_nothing_is_refused(environment: str) -> None:
    """No vendor and no webhook provider outside fake is an error saying how to enable one."""
    with pytest.raises(ConfigurationError, match="enables no port") as caught:
        create_container({"environment": environment}, env={})
    assert "PORTICO_PAYMENTS__PROVIDER" in str(caught.value)


PRODUCTION_ENV = {
    "PORTICO_ENVIRONMENT": "production",
    "PORTICO_STRIPE_API_KEY": "sk_live_secret_value_1",
    "PORTICO_HUBSPOT_TOKEN": "pat-na1-secret-token",
    "PORTICO_WHATSAPP_TOKEN": "EAAG-secret-token",
    "PORTICO_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "PORTICO_VAPI_API_KEY": "vapi-secret-key",
    "PORTICO_VAPI_PHONE_NUMBER_ID": "5a0e1b52-0000-4000-8000-000000000001",
}


async def test_production_builds_the_http_adapters_inside_their_pipelines(tmp_path: Path) -> None:
    """With every variable set, each port is the vendor's HTTP adapter wrapped in resilience."""
    container = create_container(env={**PRODUCTION_ENV, "PORTICO_DATA_DIR": str(tmp_path)})
    try:
        assert isinstance(container.messaging().inner, WhatsAppMessaging)
        assert isinstance(container.crm().inner, HubSpotCRM)
        assert isinstance(container.payments().inner, StripePayments)
        assert isinstance(container.voice().inner, VapiVoice)
        names = {row.name for row in container.breakers().snapshot()}
        assert {"whatsapp", "hubspot", "stripe", "vapi"} <= names
    finally:
        await aclose_container(container)


async def test_the_messaging_provider_swaps_the_adapter_and_names_the_breaker() -> None:
    """PORTICO_MESSAGING_PROVIDER=twilio gives the Twilio adapter behind the same port."""
    env = {
        **PRODUCTION_ENV,
        "PORTICO_MESSAGING_PROVIDER": "twilio",
        "PORTICO_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "PORTICO_TWILIO_AUTH_TOKEN": "twilio-secret-token",
        "PORTICO_TWILIO_FROM_NUMBER": "+40700000001",
    }
    container = create_container(env=env)
    try:
        assert isinstance(container.messaging().inner, TwilioMessaging)
        assert "twilio" in {row.name for row in container.breakers().snapshot()}
        assert "whatsapp" not in {row.name for row in container.breakers().snapshot()}
    finally:
        await aclose_container(container)


def test_two_configured_vendors_for_one_port_must_be_chosen_between() -> None:
    """WhatsApp and Twilio both configured, no messaging.provider: refused, naming the setting."""
    env = {
        **PRODUCTION_ENV,
        "PORTICO_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "PORTICO_TWILIO_AUTH_TOKEN": "twilio-secret-token",
    }
    with pytest.raises(ConfigurationError, match=r"messaging\.provider: .*whatsapp, twilio"):
        create_container(env=env)


def test_the_sandbox_refuses_a_live_stripe_key() -> None:
    """A live key in the sandbox fails at start-up, so tests never move real money."""
    with pytest.raises(ConfigurationError, match="live key") as caught:
        create_container(env={**PRODUCTION_ENV, "PORTICO_ENVIRONMENT": "sandbox"})
    assert PRODUCTION_ENV["PORTICO_STRIPE_API_KEY"] not in str(caught.value)


def test_an_unknown_environment_is_refused_listing_the_valid_ones() -> None:
    """A misspelt environment names the valid choices, a suggestion and the variable."""
    with pytest.raises(
        ConfigurationError,
        match=r"fake, sandbox, production; did you mean 'production'\? \(PORTICO_ENVIRONMENT\)",
    ):
        create_container(env={"PORTICO_ENVIRONMENT": "prod"})


def test_the_environment_comes_from_portico_variables() -> None:
    """PORTICO_ENVIRONMENT selects the environment (case-insensitively)."""
    container = create_container(env={"PORTICO_ENVIRONMENT": "FAKE"})
    assert container.environment() == "fake"
    with pytest.raises(ConfigurationError, match="'sandbox' enables no port"):
        create_container(env={"PORTICO_ENVIRONMENT": "SANDBOX"})


def test_nested_variables_configure_the_services() -> None:
    """PORTICO_PAYMENTS__SUCCESS_URL reaches the payment service; other variables are ignored."""
    container = create_container(
        env={"PORTICO_PAYMENTS__SUCCESS_URL": "https://clinic.example/thanks", "HOME": "/root"}
    )
    assert container.payment_collection().success_url == "https://clinic.example/thanks"


def test_the_mapping_wins_over_variables_which_win_over_the_yaml_file(tmp_path: Path) -> None:
    """Layers apply in order: defaults, YAML file, PORTICO_* variables, the given mapping."""
    config_file = tmp_path / "portico.yaml"
    config_file.write_text(
        "voice:\n  assistant_id: from-yaml\ncrm:\n  won_stage: won\n"
        "payments:\n  success_url: https://yaml.example/ok\n"
    )
    container = create_container(
        {"voice": {"assistant_id": "from-dict"}},
        env={
            "PORTICO_CONFIG_FILE": str(config_file),
            "PORTICO_VOICE__ASSISTANT_ID": "from-env",
            "PORTICO_CRM__WON_STAGE": "lost",
        },
    )
    assert container.follow_up_calls().assistant_id == "from-dict"
    assert container.payment_collection().won_stage is DealStage.LOST
    assert container.payment_collection().success_url == "https://yaml.example/ok"


def test_a_missing_yaml_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A config_file that does not exist fails at start-up without echoing the path."""
    with pytest.raises(ConfigurationError, match="config_file"):
        create_container({"config_file": str(tmp_path / "nope.yaml")}, env={})


def test_env_config_nests_on_double_underscores() -> None:
    """PORTICO_A__B=1 becomes {"a": {"b": "1"}}; unprefixed names are skipped."""
    assert env_config({"PORTICO_A__B": "1", "PORTICO_C": "2", "OTHER": "3"}) == {
        "a": {"b": "1"},
        "c": "2",
    }


@pytest.mark.parametrize(
    "env",
    [
        {"PORTICO_A": "1", "PORTICO_A__B": "2"},
        {"PORTICO_A__B": "2", "PORTICO_A": "1"},
        {"PORTICO_A____B": "1"},
    ],
)
def test_env_config_refuses_ambiguous_names(env: dict[str, str]) -> None:
    """A name that is both a value and a section, or has an empty segment, is refused."""
    with pytest.raises(ConfigurationError):
        env_config(env)


def test_overriding_a_port_reaches_every_service() -> None:
    """container.messaging.override(...) swaps the port the services receive."""
    container = create_container(env={})
    replacement = FakeMessaging(enforce_window=False)
    with container.messaging.override(providers.Object(replacement)):
        assert container.payment_collection().dispatch.ports["messaging"] is replacement
    assert container.payment_collection().dispatch.ports["messaging"] is not replacement


def test_overriding_a_raw_adapter_goes_through_the_wrapping_point() -> None:
    """An adapter override is what the exposed port provider returns."""
    container = create_container(env={})
    replacement = FakeCRM()
    with container.crm_adapter.override(providers.Object(replacement)):
        assert container.crm().inner is replacement
        assert container.lead_intake().crm.inner is replacement


def test_services_are_factories_sharing_singleton_ports() -> None:
    """Each service call builds a new service, all over the same adapter instances."""
    container = create_container(env={})
    first, second = container.lead_intake(), container.lead_intake()
    assert isinstance(first, LeadIntake)
    assert first is not second
    assert first.crm is second.crm is container.crm()
    assert isinstance(container.payment_collection(), PaymentCollection)
    assert isinstance(container.follow_up_calls(), FollowUpCalls)


def test_the_webhook_event_lease_outlasts_lead_intake() -> None:
    """The ingress's claim lease is at least intake's worst case, whatever the config says."""
    from portico.app.wiring.leases import intake_lease

    container = create_container({"webhooks": {"lease_seconds": 5}}, env={})
    assert container.webhook_ingress().lease_seconds >= intake_lease(container.crm_pipeline())


def test_a_port_left_off_is_refused_when_asked_for_and_not_served() -> None:
    """voice.provider none: the voice port and follow-up calls raise PortDisabled; the rest run."""
    container = create_container({"voice": {"provider": "none"}}, env={})
    assert container.settings().ports["voice"] is None
    with pytest.raises(PortDisabled, match="PORTICO_VOICE__PROVIDER"):
        container.voice()
    with pytest.raises(PortDisabled, match="follow_up_calls"):
        container.follow_up_calls()
    assert "voice" not in container.command_ports()
    assert isinstance(container.lead_intake(), LeadIntake)
    assert isinstance(container.payment_collection(), PaymentCollection)
