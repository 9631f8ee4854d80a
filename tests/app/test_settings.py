"""
The settings model: every problem reported at once, ports on and off, webhook secrets checked at
start-up, no secret echoed, and nothing written to the working directory by the fake environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from portico.adapters.failed_events.sqlite import SQLiteFailedEventLog
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.adapters.stripe.spec import StripeSettings, StripeWebhookSettings
from portico.adapters.webhooks.signers import sign_stripe
from portico.adapters.whatsapp.spec import Dialog360Settings
from portico.adapters.whatsapp.status_sqlite import SQLiteDeliveryStatusStore
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.wiring.container import PortDisabled, create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import (
    build_failed_event_log,
    build_outbox,
    build_replay_store,
    build_status_store,
)
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.commands import SendMessage
from portico.domain.errors import ConfigurationError
from portico.domain.messaging import DeliveryStatus, TemplateMessage
from portico.domain.values import PhoneNumber


PATIENT = PhoneNumber.parse("+40712345678")

# Production credentials for every vendor but Vapi (the values look like the real ones).
WITHOUT_VAPI = {
    "PORTICO_ENVIRONMENT": "production",
    "PORTICO_HUBSPOT__TOKEN": "pat-na1-0000-secret",
    "PORTICO_WHATSAPP__TOKEN": "EAAG-whatsapp-secret",
    "PORTICO_WHATSAPP__PHONE_NUMBER_ID": "106540352242922",
    "PORTICO_STRIPE__API_KEY": "sk_live_stripe_secret",
}


# ------------------------------------------------------------------ every problem at once


def test_every_problem_is_reported_at_once_with_suggestions() -> None:
    """Four mistakes in two layers: one ConfigurationError lists them all, typos with a hint."""
    env = {
        "PORTICO_OUTBOX__KIND": "mongo",
        "PORTICO_RESILIENCE__STRIPEE__FAILURE_THRESHOLD": "4",
        "PORTICO_MESSAGING__PROVIDER": "whatsap",
    }
    with pytest.raises(ConfigurationError) as caught:
        create_container({"webhooks": {"replay": {"kind": "bogus"}}}, env=env)
    problems = caught.value.problems
    assert len(problems) == 4, problems
    by_setting = {problem.split(":")[0]: problem for problem in problems}
    assert set(by_setting) == {
        "outbox.kind",
        "webhooks.replay.kind",
        "resilience",
        "messaging.provider",
    }
    assert "'mongo' is not one of memory, sqlite, postgres" in by_setting["outbox.kind"]
    assert "(PORTICO_OUTBOX__KIND)" in by_setting["outbox.kind"]
    assert "'bogus' is not one of memory, sqlite, redis" in by_setting["webhooks.replay.kind"]
    assert "(PORTICO_WEBHOOKS__REPLAY__KIND)" in by_setting["webhooks.replay.kind"]
    assert "unknown setting 'stripee'; did you mean 'stripe'?" in by_setting["resilience"]
    assert "did you mean 'whatsapp'?" in by_setting["messaging.provider"]
    assert "(PORTICO_MESSAGING__PROVIDER)" in by_setting["messaging.provider"]
    message = str(caught.value)
    assert message.startswith("4 configuration problems:")
    assert all(problem in message for problem in problems)


def test_an_unknown_top_level_key_is_named_with_a_suggestion() -> None:
    """A misspelt section (a flat variable of no known section) suggests the closest name."""
    with pytest.raises(ConfigurationError, match=r"unknown setting 'outbx'; did you mean 'outbox'"):
        load_settings(env={"PORTICO_OUTBX__KIND": "sqlite"})


def test_flat_keys_reach_their_sections() -> None:
    """stripe_api_key, messaging_provider and d360_api_key are read as their nested settings."""
    settings = load_settings(
        {"environment": "sandbox", "messaging_provider": "360dialog"},
        env={"PORTICO_STRIPE_API_KEY": "sk_test_1", "PORTICO_D360_API_KEY": "d360-key"},
    )
    assert settings.messaging.provider == "360dialog"
    assert settings.ports["messaging"] == "360dialog"
    dialog360, stripe = settings.vendors["360dialog"], settings.vendors["stripe"]
    assert isinstance(dialog360, Dialog360Settings)
    assert dialog360.api_key == "d360-key"
    assert isinstance(stripe, StripeSettings)
    assert stripe.api_key == "sk_test_1"


# ------------------------------------------------------------------ ports on and off


async def test_production_without_vapi_builds_with_the_voice_port_off(tmp_path: Path) -> None:
    """HubSpot, WhatsApp and Stripe configured, Vapi not: the container builds; voice is off."""
    container = create_container(env={**WITHOUT_VAPI, "PORTICO_DATA_DIR": str(tmp_path)})
    try:
        settings = container.settings()
        assert settings.ports == {
            "messaging": "whatsapp",
            "crm": "hubspot",
            "payments": "stripe",
            "voice": None,
            "email": None,
        }
        with pytest.raises(PortDisabled) as caught:
            container.follow_up_calls()
        assert isinstance(caught.value, ConfigurationError)
        assert "PORTICO_VOICE__PROVIDER" in str(caught.value)
        assert "vapi" in str(caught.value)
        with pytest.raises(PortDisabled, match="PORTICO_VOICE__PROVIDER"):
            container.voice()
        assert container.lead_intake() is not None
        assert container.payment_collection() is not None
        assert "voice" not in container.command_ports()
        assert "vapi" not in {row.name for row in container.breakers().snapshot()}
    finally:
        await aclose_container(container)


async def test_voice_provider_none_leaves_voice_off_even_when_vapi_is_configured(
    tmp_path: Path,
) -> None:
    """voice.provider: none wins over a complete Vapi section (and needs none of its settings)."""
    env = {
        **WITHOUT_VAPI,
        "PORTICO_DATA_DIR": str(tmp_path),
        "PORTICO_VAPI__API_KEY": "vapi-secret",
        "PORTICO_VAPI__PHONE_NUMBER_ID": "pn-1",
    }
    container = create_container({"voice": {"provider": "none"}}, env=env)
    try:
        assert container.settings().ports["voice"] is None
        assert "vapi" not in container.settings().vendors
        with pytest.raises(PortDisabled, match="follow_up_calls"):
            container.follow_up_calls()
    finally:
        await aclose_container(container)
    fake = create_container({"voice": {"provider": "none"}}, env={})  # fake environment too
    assert fake.settings().ports["voice"] is None
    with pytest.raises(PortDisabled, match="PORTICO_VOICE__PROVIDER"):
        fake.voice_adapter()


def test_a_port_selected_without_its_vendors_settings_names_them() -> None:
    """voice.provider vapi with no Vapi section: both of its required settings are named."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"voice": {"provider": "vapi"}}, env=WITHOUT_VAPI)
    assert caught.value.problems == (
        "vapi.api_key: is required (PORTICO_VAPI__API_KEY)",
        "vapi.phone_number_id: is required (PORTICO_VAPI__PHONE_NUMBER_ID)",
    )


# ------------------------------------------------------------------ webhook secrets


def test_webhook_secrets_are_checked_by_create_container_outside_fake(tmp_path: Path) -> None:
    """A provider section without its secret fails at start-up, naming the setting."""
    config = {"data_dir": str(tmp_path), "webhooks": {"stripe": {}}}
    with pytest.raises(ConfigurationError) as caught:
        create_container(config, env=WITHOUT_VAPI)
    assert caught.value.problems == (
        "webhooks.stripe.secret: is required (PORTICO_WEBHOOKS__STRIPE__SECRET)",
    )


def test_the_fake_environment_fills_missing_webhook_secrets() -> None:
    """The same section in fake is served with the published development secret."""
    container = create_container({"webhooks": {"stripe": {}}}, env={})
    stripe = container.settings().webhooks.providers["stripe"]
    assert isinstance(stripe, StripeWebhookSettings)
    assert stripe.secret == DEV_SECRETS["stripe"]["secret"]


@pytest.mark.parametrize(
    ("provider", "field"),
    [(provider, field) for provider, fields in DEV_SECRETS.items() for field in fields],
)
def test_a_development_secret_is_refused_in_production(
    tmp_path: Path, provider: str, field: str
) -> None:
    """Each published development value is refused outside fake, named, and not echoed."""
    value = DEV_SECRETS[provider][field]
    config = {"data_dir": str(tmp_path), "webhooks": {provider: {field: value}}}
    with pytest.raises(ConfigurationError) as caught:
        create_container(config, env=WITHOUT_VAPI)
    message = str(caught.value)
    assert f"webhooks.{provider}.{field}: a published development secret is refused" in message
    assert value not in message


# ------------------------------------------------------------------ secrets are never echoed

SECRET = "sk_live_n3ver-echo-th1s"


def _configurations(tmp_path: Path) -> list[tuple[dict[str, Any], dict[str, str]]]:
    yaml_file = tmp_path / "broken.yaml"
    yaml_file.write_text(f"stripe:\n  api_key: {SECRET}\n   bad: [\n")
    sandbox = {"PORTICO_ENVIRONMENT": "sandbox"}
    return [
        ({"stripe": {"api_key": SECRET}}, sandbox),  # a live key in the sandbox
        ({"stripe": {"api_kye": SECRET}}, sandbox),  # a misspelt secret's key
        ({"stripe": SECRET}, sandbox),  # a value where a section belongs
        ({"webhooks": {"max_body": SECRET, "stripe": {"secret": SECRET}}}, sandbox),
        ({"resilience": {"stripe": {"timeout": SECRET}}}, {}),
        ({"config_file": str(yaml_file)}, {}),  # the YAML parser would quote the line
        ({"twilio": {"account_sid": SECRET, "auth_token": SECRET, "from_number": "+1"}}, sandbox),
        ({"messaging": {"status_store": {"kind": "redis", "retention_seconds": SECRET}}}, {}),
    ]


def test_a_secret_value_never_appears_in_a_configuration_error(tmp_path: Path) -> None:
    """Whatever is wrong, the message names settings, never the value that was given."""
    for config, env in _configurations(tmp_path):
        with pytest.raises(ConfigurationError) as caught:
            create_container({"data_dir": str(tmp_path), **config}, env=env)
        assert SECRET not in str(caught.value), config
        assert not any(SECRET in problem for problem in caught.value.problems), config
        assert SECRET not in repr(caught.value), config


# ------------------------------------------------------------------ stores and the working folder


async def test_the_fake_environment_writes_nothing_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_container(env={}), a lead intake, a queued command and a webhook: no file made."""
    monkeypatch.chdir(tmp_path)
    container = create_container(env={})
    try:
        wa = container.fake_messaging()
        lead = await container.lead_intake().intake(wa.receive(PATIENT, "Hello").message)
        assert lead.opened
        await container.outbox().enqueue(SendMessage(TemplateMessage(PATIENT, "reminder")))
        await container.status_store().record("wamid.1", DeliveryStatus.DELIVERED)
        body = json.dumps(
            {
                "id": "evt_cwd_1",
                "object": "event",
                "created": 1686089970,
                "type": "refund.created",
                "data": {
                    "object": {
                        "id": "re_cwd_1",
                        "object": "refund",
                        "amount": 2500,
                        "currency": "eur",
                        "payment_intent": "pi_cwd_1",
                        "status": "succeeded",
                    }
                },
            }
        ).encode()
        headers = sign_stripe(body, DEV_SECRETS["stripe"]["secret"])
        transport = httpx.ASGITransport(app=create_webhook_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.post("/stripe", content=body, headers=headers)
        assert answer.json()["processed"] == 1, answer.text
    finally:
        await aclose_container(container)
    assert list(tmp_path.iterdir()) == []


def test_a_data_dir_puts_every_store_in_it_named_for_the_environment(tmp_path: Path) -> None:
    """With data_dir, the four stores are SQLite files <stem>.<environment>.sqlite3 there."""
    settings = load_settings({"data_dir": str(tmp_path)}, env={})
    outbox = build_outbox(settings)
    assert isinstance(outbox, SqliteOutbox)
    assert outbox.path == str(tmp_path / "portico-outbox.fake.sqlite3")
    replay = build_replay_store(settings)
    assert isinstance(replay, SQLiteReplayStore)
    assert str(tmp_path / "portico-replay.fake.sqlite3") in repr(replay)
    failed = build_failed_event_log(settings)
    assert isinstance(failed, SQLiteFailedEventLog)
    assert failed.path == str(tmp_path / "portico-failed-events.fake.sqlite3")
    status = build_status_store(settings)
    assert isinstance(status, SQLiteDeliveryStatusStore)
    assert str(tmp_path / "portico-status.fake.sqlite3") in repr(status)
    assert list(tmp_path.iterdir()) == []  # built, not opened


@pytest.mark.parametrize(
    ("config", "build", "kind"),
    [
        ({"outbox": {"path": "{dir}/o.sqlite3"}}, build_outbox, SqliteOutbox),
        (
            {"webhooks": {"replay": {"path": "{dir}/r.sqlite3"}}},
            build_replay_store,
            SQLiteReplayStore,
        ),
        (
            {"webhooks": {"failed_events": {"path": "{dir}/f.sqlite3"}}},
            build_failed_event_log,
            SQLiteFailedEventLog,
        ),
        (
            {"messaging": {"status_store": {"path": "{dir}/s.sqlite3"}}},
            build_status_store,
            SQLiteDeliveryStatusStore,
        ),
    ],
    ids=["outbox", "replay", "failed_events", "status_store"],
)
def test_a_configured_path_is_an_sqlite_store_in_the_fake_environment(
    tmp_path: Path, config: dict[str, Any], build: Any, kind: type
) -> None:
    """A store's path alone (no kind, no data_dir) is honoured: that SQLite file, not memory."""
    text = json.dumps(config).replace("{dir}", str(tmp_path))
    store = build(load_settings(json.loads(text), env={}))
    assert isinstance(store, kind)
    assert str(tmp_path) in repr(store) or str(tmp_path) in str(getattr(store, "path", ""))


def test_a_lease_shorter_than_a_pipeline_fails_at_create_container() -> None:
    """The relay's lease check runs at start-up with the other problems, not at the first relay."""
    with pytest.raises(ConfigurationError, match=r"outbox\.lease_seconds \(5s\) must exceed"):
        create_container({"outbox": {"lease_seconds": 5}}, env={})


def test_a_secret_the_verifier_refuses_fails_at_create_container() -> None:
    """A Stripe secret of only commas passes the settings model but not the verifier: named."""
    config = {
        "environment": "production",
        "stripe": {"api_key": "sk_live_x"},
        "webhooks": {"stripe": {"secret": " , "}},
    }
    with pytest.raises(ConfigurationError, match=r"webhooks\.stripe\.secrets: at least one"):
        create_container(config, env={})


def test_the_cli_and_the_ingress_share_one_failed_event_log(tmp_path: Path) -> None:
    """`portico webhooks failed` reads the very log the ingress records into."""
    container = create_container({"data_dir": str(tmp_path)}, env={})
    assert container.webhook_ingress().failed_log is container.failed_event_log()
