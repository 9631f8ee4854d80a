"""The breaker registry, the audit report, the container wiring and `portico health`."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeClock, FakeCRM
from portico.adapters.resilience import (
    BreakerRegistry,
    CircuitBreaker,
    CircuitState,
    ResilientCRM,
    ResilientEmail,
    ResilientMessaging,
    ResilientPayments,
    ResilientVoice,
)
from portico.app.entrypoints.cli import main
from portico.app.services.audit_report import build_audit_report
from portico.app.wiring.container import ConfigurationError, create_container
from portico.domain.errors import AuthenticationFailed, Unavailable


def registry_with_an_open_circuit(clock: FakeClock) -> BreakerRegistry:
    """Stripe open after three failures, HubSpot healthy with a success 90 s ago."""
    registry = BreakerRegistry()
    stripe = CircuitBreaker("stripe", failure_threshold=3, reset_timeout=30, clock=clock)
    hubspot = CircuitBreaker("hubspot", clock=clock)
    registry.register(stripe)
    registry.register(hubspot)
    hubspot.on_success(hubspot.acquire())
    clock.advance(90)
    for _ in range(3):
        stripe.on_error(stripe.acquire(), Unavailable("503", integration="stripe"))
    return registry


class TestReport:
    def test_snapshot_has_one_row_per_integration(self) -> None:
        """The snapshot lists integrations by name with state, failures and last success."""
        clock = FakeClock()
        rows = registry_with_an_open_circuit(clock).snapshot()
        assert [row.name for row in rows] == ["hubspot", "stripe"]
        hubspot, stripe = rows
        assert hubspot.stats.state is CircuitState.CLOSED
        assert hubspot.stats.last_success is not None
        assert hubspot.now - hubspot.stats.last_success == 90
        assert stripe.stats.state is CircuitState.OPEN
        assert (stripe.stats.failures, stripe.stats.last_success) == (3, None)
        assert stripe.stats.retry_in == 30

    def test_registry_refuses_two_breakers_with_one_name(self) -> None:
        """Registering a second, different breaker under a taken name is a clear error."""
        registry = BreakerRegistry()
        registry.register(CircuitBreaker("stripe"))
        with pytest.raises(ValueError, match="stripe"):
            registry.register(CircuitBreaker("stripe"))
        with pytest.raises(LookupError, match="hubspot"):
            registry["hubspot"]


class TestContainer:
    def test_every_exposed_port_is_wrapped(self) -> None:
        """The container's ports are the resilient decorators around the raw adapters."""
        container = create_container(env={})
        assert isinstance(container.messaging(), ResilientMessaging)
        assert isinstance(container.crm(), ResilientCRM)
        assert isinstance(container.payments(), ResilientPayments)
        assert isinstance(container.voice(), ResilientVoice)
        assert isinstance(container.email(), ResilientEmail)
        assert container.crm().inner is container.crm_adapter()
        assert container.crm() is container.crm()
        assert {b.name for b in container.breakers()} == {
            "whatsapp",
            "hubspot",
            "stripe",
            "vapi",
            "graph",
        }

    def test_an_adapter_override_is_wrapped_too(self) -> None:
        """Overriding the raw adapter keeps the pipeline and wraps the replacement."""
        from dependency_injector import providers

        container = create_container(env={})
        replacement = FakeCRM()
        with container.crm_adapter.override(providers.Object(replacement)):
            assert container.crm().inner is replacement
            assert container.crm().pipeline is container.crm_pipeline()

    def test_configuration_overrides_the_defaults(self) -> None:
        """Settings under resilience.<integration> from config or env reach the breaker."""
        container = create_container(
            {"resilience": {"stripe": {"failure_threshold": "4"}}},
            env={"PORTICO_RESILIENCE__HUBSPOT__RESET_TIMEOUT": "15"},
        )
        assert container.breakers()["stripe"].failure_threshold == 4
        assert container.breakers()["hubspot"].reset_timeout == 15.0

    def test_a_bad_setting_fails_at_start_up_naming_it(self) -> None:
        """A misspelt resilience setting fails create_container with its full path."""
        with pytest.raises(ValueError) as caught:
            create_container({"resilience": {"stripe": {"failure_treshold": 4}}}, env={})
        assert isinstance(caught.value, ConfigurationError)
        assert caught.value.problems == (
            "resilience.stripe: unknown setting 'failure_treshold'; did you mean "
            "'failure_threshold'? (PORTICO_RESILIENCE__STRIPE__FAILURE_TRESHOLD)",
        )

    def test_a_bad_value_is_named_without_echoing_it(self) -> None:
        """A resilience value of the wrong type names its field, never the value given."""
        config = {"resilience": {"hubspot": {"timeout": "secret-looking-value"}}}
        with pytest.raises(
            ConfigurationError, match=r"resilience\.hubspot\.timeout: expected a number"
        ) as caught:
            create_container(config, env={})
        assert "secret-looking-value" not in str(caught.value)


class TestCommand:
    def test_health_prints_the_report(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`portico health` prints every integration and exits 0 when all is well."""
        assert main(["health"]) == 0
        out = capsys.readouterr().out
        assert "Integrations Audit Report" in out
        for name in ("whatsapp", "hubspot", "stripe", "vapi"):
            assert f"| {name} | CLOSED |" in out

    def test_probe_passes_when_fakes_answer(self, capsys: pytest.CaptureFixture[str]) -> None:
        """With --probe, each fake answers its probe and the report shows a fresh success."""
        assert main(["health", "--probe", "--format", "text"]) == 0
        out = capsys.readouterr().out
        # Email has no harmless read to probe (Graph's sendMail only sends): its breaker is idle.
        probed = [line for line in out.splitlines() if not line.lstrip().startswith("graph ")]
        assert "never" not in "\n".join(probed)
        assert any(line.lstrip().startswith("graph ") for line in out.splitlines())
        assert "probe_failed" not in out

    async def test_probe_reports_a_vendor_that_does_not_answer(self) -> None:
        """A port whose vendor is down or refuses our credentials is reported by name."""
        container = create_container({"resilience": {"hubspot": {"retry_attempts": 1}}}, env={})
        container.fake_crm().faults.fail_next(1, Unavailable("503", integration="hubspot"))
        container.fake_payments().faults.fail_next(
            1, AuthenticationFailed("bad key", integration="stripe", status_code=401)
        )
        report = await build_audit_report(container, probe=True)
        problems = [f.message for f in report.findings if f.code == "probe_failed"]
        assert sorted(p.split(":")[0] for p in problems) == ["crm", "payments"]
        assert any("RetryExhaustedError" in p and p.startswith("crm") for p in problems)
        assert any("AuthenticationFailed" in p and p.startswith("payments") for p in problems)
        assert report.gate.exit_code == 1
