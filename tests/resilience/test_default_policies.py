"""Every messaging provider the container can select has a default policy with a rate limit."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import build_pipeline
from portico.adapters.whatsapp.spec import DIALOG360_SPEC
from portico.app.wiring.container import create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.registry import VendorRegistry
from portico.app.wiring.settings import load_settings


MESSAGING_VENDORS = [spec.name for spec in VendorRegistry.builtin().for_port("messaging")]


def test_every_messaging_provider_is_a_vendor() -> None:
    """WhatsApp (the default), 360dialog and Twilio can each serve the messaging port."""
    assert MESSAGING_VENDORS == ["whatsapp", "360dialog", "twilio"]


@pytest.mark.parametrize("provider", MESSAGING_VENDORS)
def test_each_messaging_provider_has_a_rate_limited_pipeline(provider: str) -> None:
    """The pipeline named for the chosen provider has its spec's policy and a limiter."""
    settings = load_settings({"messaging_provider": provider}, env={})
    name = settings.integration("messaging")
    assert name == provider
    spec = settings.registry.get(name)
    assert spec is not None
    assert settings.policy(name) == spec.policy
    clock = FakeClock()
    pipe = build_pipeline(name, settings.policy(name), clock=clock)
    assert pipe.limiter is not None
    assert pipe.limiter.rate == spec.policy.rate


@pytest.mark.parametrize("provider", MESSAGING_VENDORS)
async def test_the_containers_messaging_pipeline_is_named_for_the_provider(provider: str) -> None:
    """In the fake environment too, messaging.provider names the messaging breaker."""
    container = create_container({"messaging_provider": provider}, env={})
    try:
        assert container.messaging_pipeline().integration == provider
        assert provider in {row.name for row in container.breakers().snapshot()}
    finally:
        await aclose_container(container)


def test_360dialog_stays_under_its_published_80_per_second() -> None:
    """360dialog's bucket never lets more than 80 messages through in any one second."""
    policy = DIALOG360_SPEC.policy
    assert policy.rate is not None
    assert policy.burst + policy.rate * 1.0 <= 80
    assert (policy.failure_threshold, policy.reset_timeout) == (5, 60.0)


def test_a_resilience_override_changes_one_field_of_the_spec_default() -> None:
    """resilience.360dialog.burst overrides that field; the others keep the spec's values."""
    settings = load_settings(env={"PORTICO_RESILIENCE__360DIALOG__BURST": "4"})
    assert settings.policy("360dialog").burst == 4
    assert settings.policy("360dialog").rate == DIALOG360_SPEC.policy.rate
