"""Every messaging provider the container can select has a default policy with a rate limit."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import DEFAULT_POLICIES, build_pipeline
from portico.app.wiring.adapters import MESSAGING_PROVIDERS, messaging_integration


@pytest.mark.parametrize("provider", MESSAGING_PROVIDERS)
def test_each_messaging_provider_has_a_rate_limited_pipeline(provider: str) -> None:
    """The pipeline named for the chosen provider has its own default policy and a limiter."""
    name = messaging_integration({"messaging_provider": provider})
    assert name in DEFAULT_POLICIES
    clock = FakeClock()
    pipe = build_pipeline(name, clock=clock)
    assert pipe.limiter is not None
    assert pipe.limiter.rate == DEFAULT_POLICIES[name].rate


def test_360dialog_stays_under_its_published_80_per_second() -> None:
    """360dialog's bucket never lets more than 80 messages through in any one second."""
    policy = DEFAULT_POLICIES["360dialog"]
    assert policy.rate is not None
    assert policy.burst + policy.rate * 1.0 <= 80
    assert (policy.failure_threshold, policy.reset_timeout) == (5, 60.0)
