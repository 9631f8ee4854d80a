"""
The full Integrations Audit Report (issue 18): every finding from a real configured or live state,
the quality gate and its exit code through `portico health`, the JSON schema, and no secret in
any output.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from portico.adapters.fakes import FakeClock
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.entrypoints.cli import main
from portico.app.entrypoints.webhook_counters import WebhookHealth
from portico.app.services.audit_report import (
    AuditReport,
    build_audit_report,
    render_audit_markdown,
    render_audit_text,
)
from portico.app.services.audit_state import Finding
from portico.app.wiring.container import Container, create_container
from portico.domain.commands import SendMessage
from portico.domain.errors import RetryExhaustedError, Unavailable
from portico.domain.messaging import TemplateMessage
from portico.domain.webhooks import WebhookRequest
from portico.testing import DEV_SECRETS, sign_stripe


HOUR = 3600.0
TOP_LEVEL = ["generated_at", "gate", "clients", "resilience", "webhooks", "outbox", "findings"]
# Production secrets of the tests below: none may appear in any output.
TWILIO_TOKEN = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a90"
HUBSPOT_SECRET = "5d1c9a7e-3b2f-4e8d-a6c0-1f9e8d7c6b5a"
STRIPE_TEST_KEY = "sk_test_51QxLrT0pSeCrEtKeYvAlUe0000"
PLACEHOLDER_SECRET = "whsec_changeme_0123456789"


@pytest.fixture(autouse=True)
def _private_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store of the test lives in its own folder; no PORTICO_* variable leaks in."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("PORTICO_")]:
        monkeypatch.delenv(name)


def _health(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    """`portico health --format json ...`: the exit code and the parsed report."""
    code = main(["health", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def _codes(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["severity"], f["code"], f["subject"]) for f in report["findings"]}


def _config(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "portico.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path), **config}))
    return str(path)


def _production(tmp_path: Path, **extra: Any) -> str:
    """Production serving Twilio and HubSpot webhooks with real-looking secrets, sqlite stores."""
    webhooks = {
        "twilio": {"auth_token": TWILIO_TOKEN},
        "hubspot": {"client_secret": HUBSPOT_SECRET},
    }
    webhooks.update(extra.pop("webhooks", {}))
    return _config(tmp_path, {"environment": "production", "webhooks": webhooks, **extra})


class TestGate:
    def test_the_default_fake_setup_passes_with_exit_0(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Out of the box: PASSED, exit 0, HubSpot's legacy schemes an info finding only."""
        code, report = _health(capsys=capsys)
        assert code == 0
        assert report["gate"] == {
            "status": "PASSED",
            "rule": "no critical or warning finding: healthy, exit 0",
            "exit_code": 0,
        }
        assert _codes(report) == {("info", "legacy_signatures", "hubspot")}

    def test_json_has_exactly_the_documented_keys(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The JSON's top level, rows and findings have the documented keys."""
        _, report = _health(capsys=capsys)
        assert list(report) == TOP_LEVEL
        assert list(report["gate"]) == ["status", "rule", "exit_code"]
        assert datetime.fromisoformat(report["generated_at"]).tzinfo is not None
        assert [c["integration"] for c in report["clients"]] == [
            "graph",
            "hubspot",
            "stripe",
            "vapi",
            "whatsapp",
        ]
        stripe = next(r for r in report["resilience"] if r["integration"] == "stripe")
        assert (stripe["retry_max"], stripe["failure_threshold"]) == (3, 3)
        assert (stripe["rate_per_second"], stripe["burst"]) == (90.0, 10)
        assert stripe["rate_limit"] == "90/s burst 10 (this process)"
        providers = {row["provider"]: row for row in report["webhooks"]}
        assert sorted(providers) == sorted(DEV_SECRETS)
        assert set(providers["stripe"]) == {
            "provider",
            "scheme",
            "secret_configured",
            "unset_secrets",
            "timestamp_tolerance_seconds",
            "replay_store",
            "public_base_url",
            "legacy_schemes",
            "legacy_cost",
            "counters",
        }
        assert list(report["findings"][0]) == ["severity", "code", "subject", "message"]
        assert set(report["outbox"]) >= {"state", "pending", "dead", "oldest_pending_age_seconds"}

    def test_webhook_security_says_what_each_provider_verifies(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each provider's scheme, tolerance and legacy schemes are the verifier's own."""
        _, report = _health(capsys=capsys)
        rows = {row["provider"]: row for row in report["webhooks"]}
        assert rows["stripe"]["scheme"].startswith("Stripe-Signature t=,v1= (HMAC-SHA256")
        assert rows["stripe"]["timestamp_tolerance_seconds"] == 300.0
        assert rows["hubspot"]["scheme"].startswith("X-HubSpot-Signature-v3")
        assert rows["hubspot"]["legacy_schemes"].startswith("v1/v2")
        assert "verifies forever" in rows["hubspot"]["legacy_cost"]
        assert rows["twilio"]["scheme"].startswith("X-Twilio-Signature (base64 HMAC-SHA1")
        assert rows["twilio"]["timestamp_tolerance_seconds"] is None
        assert rows["whatsapp"]["scheme"].startswith("X-Hub-Signature-256 sha256=")
        assert rows["vapi"]["scheme"].startswith("X-Vapi-Secret: <secret> (shared secret")
        assert rows["360dialog"]["scheme"].startswith("x-360dialog-signature")
        for row in rows.values():
            assert row["secret_configured"] is True
            assert row["replay_store"] == {
                "kind": "memory",
                "retention_seconds": 7 * 24 * HOUR,
                "persistent": False,
            }

    def test_probe_marks_only_the_probed_integrations(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--probe: the four probed ports say ok; email (Graph, no harmless read) says nothing."""
        code, report = _health("--probe", capsys=capsys)
        assert code == 0
        probes = {c["integration"]: c["probe"] for c in report["clients"]}
        assert probes == {
            "graph": None,
            "hubspot": "ok",
            "stripe": "ok",
            "vapi": "ok",
            "whatsapp": "ok",
        }

    def test_no_legacy_finding_once_hubspot_accepts_v3_only(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """webhooks.hubspot.allow_legacy: false removes the legacy schemes and their finding."""
        config = _config(tmp_path, {"webhooks": {"hubspot": {"allow_legacy": False}}})
        code, report = _health("--config", config, capsys=capsys)
        hubspot = next(r for r in report["webhooks"] if r["provider"] == "hubspot")
        assert hubspot["legacy_schemes"] is None
        assert _codes(report) == set()
        assert code == 0


class TestLiveState:
    async def test_an_open_circuit_is_critical(self) -> None:
        """Three real failures open Stripe's breaker: a critical finding, FAILED with 1."""
        container = create_container({"resilience": {"stripe": {"retry_attempts": 1}}}, env={})
        container.fake_payments().faults.fail_next(3, Unavailable("503", integration="stripe"))
        for _ in range(3):
            with pytest.raises(RetryExhaustedError):
                await container.payments().get_payment_intent("pi_1")
        report = await build_audit_report(container)
        assert ("critical", "circuit_open", "stripe") in _codes(report.to_json())
        assert report.gate.status == "FAILED"
        assert report.gate.exit_code == 1
        assert report.gate.rule.startswith("1 critical finding(s) (circuit_open: stripe)")
        markdown = render_audit_markdown(report)
        assert "| stripe | OPEN (probe in 30s) | 3 (0 rejected) | never | - |" in markdown
        assert (
            "| FAILED | 1 | 1 critical finding(s) (circuit_open: stripe): unhealthy, exit 1 |"
            in (markdown.split("## Quality gate")[1])
        )

    def test_a_dead_letter_is_a_warning_and_exits_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A dead letter in the real outbox: a warning naming its integration, FAILED with 2."""
        path = tmp_path / "outbox.sqlite3"
        asyncio.run(_dead_letter(path))
        code, report = _health("--config", _config(tmp_path, {"outbox": {"path": str(path)}}),
                               capsys=capsys)  # fmt: skip
        assert code == 2
        assert report["gate"]["status"] == "FAILED"
        assert report["gate"]["rule"].startswith("no critical finding, 1 warning(s) (dead_letters")
        dead = [f for f in report["findings"] if f["code"] == "dead_letters"]
        assert len(dead) == 1
        assert dead[0]["severity"] == "warning"
        assert report["outbox"]["dead"] == 1
        assert report["outbox"]["integrations"][dead[0]["subject"]]["dead"] == 1
        assert "+40720000000" not in json.dumps(report)  # the recipient never shows

    async def test_a_memory_outbox_is_read_in_its_own_process(self) -> None:
        """In-process (the console): the container's memory outbox is the one reported."""
        container = create_container({"outbox": {"kind": "memory"}}, env={})
        box = container.outbox()
        await box.enqueue(SendMessage(TemplateMessage("+40720000001", "t")))
        for entry in await box.claim(limit=1, lease_seconds=60):
            await box.dead_letter(entry, reason="vendor said no")
        report = await build_audit_report(container)
        assert report.outbox.dead == 1
        assert [f.code for f in report.findings if f.severity == "warning"] == ["dead_letters"]
        assert report.gate.exit_code == 2
        assert (await box.status()).dead == 1  # still open: the report does not close it

    def test_a_command_pending_past_its_limit_is_a_warning(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A command pending an hour: a warning at the default 15 minutes, none at 2 hours."""
        path = tmp_path / "outbox.sqlite3"
        asyncio.run(_pending_since(path, HOUR))
        config = _config(tmp_path, {"outbox": {"path": str(path)}})
        code, report = _health("--config", config, capsys=capsys)
        assert code == 2
        assert ("warning", "pending_too_old", "outbox") in _codes(report)
        code, report = _health("--config", config, "--max-pending-age", str(2 * HOUR),
                               capsys=capsys)  # fmt: skip
        assert code == 0
        assert report["outbox"]["max_pending_age_seconds"] == 2 * HOUR

    def test_an_unreadable_outbox_is_critical(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An outbox path that is not an outbox: critical, exit 1."""
        path = tmp_path / "not-an-outbox.sqlite3"
        path.write_bytes(b"this is not a database")
        code, report = _health("--config", _config(tmp_path, {"outbox": {"path": str(path)}}),
                               capsys=capsys)  # fmt: skip
        assert code == 1
        assert ("critical", "outbox_unreadable", "outbox") in _codes(report)
        assert report["outbox"]["state"] == "unreadable"

    def test_an_operator_override_is_a_finding(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`portico breaker open` is critical (exit 1); `breaker close` a warning (exit 2)."""
        monkeypatch.setenv("PORTICO_DATA_DIR", str(tmp_path))
        assert main(["breaker", "open", "stripe", "--for", "10m"]) == 0
        capsys.readouterr()
        code, report = _health(capsys=capsys)
        assert code == 1
        assert ("critical", "breaker_forced", "stripe") in _codes(report)
        stripe = next(c for c in report["clients"] if c["integration"] == "stripe")
        assert stripe["circuit"] == "FORCED_OPEN"
        assert 590 < stripe["override_seconds_left"] <= 600
        assert main(["breaker", "close", "stripe"]) == 0
        capsys.readouterr()
        code, report = _health(capsys=capsys)
        assert code == 2
        assert ("warning", "breaker_forced", "stripe") in _codes(report)
        assert main(["breaker", "clear", "stripe"]) == 0
        capsys.readouterr()
        code, report = _health(capsys=capsys)
        assert code == 0

    async def test_a_provider_silent_for_a_day_is_a_warning(self) -> None:
        """Counters known: a provider with no delivery in 24 h is a warning; a recent one is not."""
        clock = FakeClock()
        container = create_container({"webhooks": {"replay": "memory"}}, env={}, clock=clock)
        ingress = container.webhook_ingress()
        clock.advance(25 * HOUR)
        await _deliver_stripe(container, clock)
        clock.advance(HOUR)
        report = await build_audit_report(container, webhook_health=WebhookHealth.of(ingress))
        silent = {f.subject for f in report.findings if f.code == "provider_silent"}
        assert silent == set(DEV_SECRETS) - {"stripe"}
        stripe = next(row for row in report.webhooks if row.provider == "stripe")
        assert stripe.counts is not None
        assert (stripe.counts.received, stripe.counts.last_received_age) == (1, HOUR)
        assert report.gate.exit_code == 2
        text = render_audit_text(report)
        assert "no delivery in the 1.1d the server has counted" in text

    async def test_without_counters_no_silence_is_claimed(self) -> None:
        """Counters unknown (no --server): nothing is said about deliveries."""
        clock = FakeClock()
        container = create_container({"webhooks": {"replay": "memory"}}, env={}, clock=clock)
        container.webhook_ingress()
        clock.advance(30 * 24 * HOUR)
        report = await build_audit_report(container)
        assert not [f for f in report.findings if f.code == "provider_silent"]
        assert "portico health --server" in render_audit_markdown(report)


class TestConfiguration:
    def test_a_test_mode_key_and_a_placeholder_secret_in_production_are_critical(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """sk_test_ in production and a placeholder webhook secret: critical, exit 1, unnamed."""
        config = _production(
            tmp_path,
            stripe={"api_key": STRIPE_TEST_KEY},
            webhooks={"stripe": {"secret": PLACEHOLDER_SECRET}},
        )
        code, report = _health("--config", config, capsys=capsys)
        assert code == 1
        dev = {f["message"].split(":")[0] for f in report["findings"]
               if f["code"] == "development_secret"}  # fmt: skip
        assert dev == {"stripe.api_key", "webhooks.stripe.secret"}
        assert "test-mode key" in json.dumps(report)

    def test_a_memory_replay_store_with_several_workers_is_critical(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Replay store memory and two workers: each worker dedups alone, critical, exit 1."""
        config = _production(
            tmp_path,
            webhooks={"replay": {"kind": "memory"}},
            resilience={"shared": {"expected_workers": 2}},
        )
        code, report = _health("--config", config, capsys=capsys)
        assert code == 1
        assert ("critical", "replay_store_not_persistent", "twilio") in _codes(report)
        assert ("critical", "replay_store_not_persistent", "hubspot") in _codes(report)

    def test_a_shared_redis_replay_store_serves_several_workers(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Redis as the replay store with two workers: persistent and shared, no finding."""
        config = _production(
            tmp_path,
            webhooks={"replay": {"kind": "redis", "url": "redis://:s3cretpw@127.0.0.1:1/0"}},
            resilience={"shared": {"expected_workers": 2}},
        )
        code, report = _health("--config", config, capsys=capsys)
        assert code == 0, report["findings"]
        twilio = next(r for r in report["webhooks"] if r["provider"] == "twilio")
        assert twilio["replay_store"] == {
            "kind": "redis",
            "retention_seconds": 7 * 24 * HOUR,
            "persistent": True,
        }
        assert "s3cretpw" not in json.dumps(report)

    def test_a_provider_without_replay_protection_is_a_warning(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No signed timestamp (Twilio, HubSpot's legacy v1) and a memory store: a warning."""
        config = _production(tmp_path, webhooks={"replay": {"kind": "memory"}})
        code, report = _health("--config", config, capsys=capsys)
        assert code == 2
        found = _codes(report)
        assert ("warning", "no_replay_protection", "twilio") in found
        assert ("warning", "no_replay_protection", "hubspot") in found
        assert ("info", "legacy_signatures", "hubspot") in found

    def test_an_unset_optional_secret_is_an_info(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """WhatsApp without verify_token: secret configured, handshake token named unset."""
        config = _production(tmp_path, webhooks={"whatsapp": {"app_secret": TWILIO_TOKEN[::-1]}})
        code, report = _health("--config", config, capsys=capsys)
        assert code == 0
        whatsapp = next(r for r in report["webhooks"] if r["provider"] == "whatsapp")
        assert whatsapp["secret_configured"] is True
        assert whatsapp["unset_secrets"] == ["webhooks.whatsapp.verify_token"]
        assert ("info", "secret_unset", "whatsapp") in _codes(report)

    def test_a_persistent_replay_store_in_production_passes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The same production setup on the default sqlite replay store: PASSED, exit 0."""
        code, report = _health("--config", _production(tmp_path), capsys=capsys)
        assert code == 0, report["findings"]
        twilio = next(r for r in report["webhooks"] if r["provider"] == "twilio")
        assert twilio["replay_store"]["kind"] == "sqlite"
        assert twilio["replay_store"]["persistent"] is True

    @pytest.mark.parametrize("fmt", ["markdown", "text", "json"])
    def test_no_secret_appears_in_any_format(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
    ) -> None:
        """Every secret configured is reported as configured, never shown."""
        config = _production(
            tmp_path,
            stripe={"api_key": STRIPE_TEST_KEY},
            webhooks={"stripe": {"secret": PLACEHOLDER_SECRET}},
        )
        main(["health", "--config", config, "--format", fmt])
        out = capsys.readouterr().out
        assert "Webhook security" in out or '"webhooks"' in out
        for secret in (TWILIO_TOKEN, HUBSPOT_SECRET, STRIPE_TEST_KEY, PLACEHOLDER_SECRET):
            assert secret not in out
            assert secret[:12] not in out

    def test_development_secrets_never_show_in_the_fake_environment(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The published development secrets are in use in fake; the report does not print them."""
        main(["health"])
        out = capsys.readouterr().out
        for section in DEV_SECRETS.values():
            for value in section.values():
                assert value not in out


async def _dead_letter(path: Path) -> None:
    box = SqliteOutbox(path)
    await box.enqueue(SendMessage(TemplateMessage("+40720000000", "t")))
    for entry in await box.claim(limit=1, lease_seconds=60):
        await box.dead_letter(entry, reason="vendor said no")
    await box.close()


async def _pending_since(path: Path, age: float) -> None:
    box = SqliteOutbox(path)
    now = (await box.status()).now
    await box.close()
    old = SqliteOutbox(path, clock=FakeClock(datetime.fromtimestamp(now - age, UTC)))
    await old.enqueue(SendMessage(TemplateMessage("+40799999999", "reminder")))
    await old.close()


async def _deliver_stripe(container: Container, clock: FakeClock) -> None:
    event = {
        "id": "evt_audit_1",
        "type": "audit.test",
        "created": int(clock.now().timestamp()),
        "data": {"object": {}},
    }
    body = json.dumps(event).encode()
    headers = sign_stripe(body, DEV_SECRETS["stripe"]["secret"], clock=clock)
    request = WebhookRequest("POST", "https://hooks.example/stripe", headers, body)
    response = await container.webhook_ingress().handle("stripe", request)
    assert response.status == 200


def test_a_finding_refuses_an_unknown_severity() -> None:
    """Severity is one of critical, warning, info: anything else is a programming error."""
    with pytest.raises(ValueError, match="severity"):
        Finding("fatal", "circuit_open", "stripe", "no")


def test_a_cell_with_a_pipe_or_a_line_break_keeps_the_markdown_table_whole() -> None:
    """A probe's error text with '|' or a newline stays inside its cell."""
    report = asyncio.run(build_audit_report(create_container(env={})))
    odd = attrs.evolve(
        report,
        findings=(Finding("critical", "probe_failed", "stripe", "a | b\nc"),),
    )
    issues = render_audit_markdown(odd).split("## Issues found")[1]
    assert "| CRITICAL | probe_failed | stripe | a \\| b c |" in issues


def test_the_report_type_is_what_build_audit_report_returns() -> None:
    """`build_audit_report` returns an `AuditReport` (the console's entry point)."""
    report = asyncio.run(build_audit_report(create_container(env={})))
    assert isinstance(report, AuditReport)
    assert list(report.to_json()) == TOP_LEVEL
