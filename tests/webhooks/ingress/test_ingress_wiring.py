"""Building the ingress from configuration: development secrets, demanded secrets, stores."""

from __future__ import annotations

import logging

import pytest

from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.stores.redis_store import RedisReplayStore
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.adapters.stripe.verifier import StripeWebhookVerifier
from portico.adapters.whatsapp.verifier import MetaWebhookVerifier
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import build_replay_store
from portico.app.wiring.webhooks import DEV_SECRETS, build_webhook_ingress


def test_fake_environment_serves_every_provider_with_logged_dev_secrets(caplog):
    """With no secrets in 'fake', every provider is served and each dev secret is logged."""
    with caplog.at_level(logging.WARNING, logger="portico.webhooks"):
        ingress = build_webhook_ingress({}, environment="fake")
    assert ingress.providers == (
        "360dialog",
        "graph",
        "hubspot",
        "stripe",
        "twilio",
        "vapi",
        "whatsapp",
    )
    assert "published DEVELOPMENT secrets in use for" in caplog.text
    assert "stripe.secret" in caplog.text
    for section in DEV_SECRETS.values():
        for value in section.values():
            assert value not in caplog.text


def test_production_serves_only_configured_providers():
    """Outside 'fake', a provider is served only when its section is present."""
    ingress = build_webhook_ingress(
        {"webhooks": {"replay": "memory", "stripe": {"secret": "whsec_a, whsec_b"}}},
        environment="production",
    )
    assert ingress.providers == ("stripe",)
    verifier = ingress.endpoints["stripe"].verifier
    assert isinstance(verifier, StripeWebhookVerifier)
    assert verifier.secrets == ("whsec_a", "whsec_b")


def test_production_demands_the_secret_it_needs():
    """A provider section without its secret is a ConfigurationError naming the key."""
    with pytest.raises(
        ConfigurationError,
        match=r"webhooks\.whatsapp\.app_secret: is required "
        r"\(PORTICO_WEBHOOKS__WHATSAPP__APP_SECRET\)",
    ):
        build_webhook_ingress(
            {"webhooks": {"whatsapp": {"verify_token": "t"}}}, environment="production"
        )


def test_production_refuses_development_secrets():
    """The published development secrets are refused outside 'fake'."""
    with pytest.raises(ConfigurationError, match="development secret") as caught:
        build_webhook_ingress(
            {"webhooks": {"stripe": dict(DEV_SECRETS["stripe"])}}, environment="sandbox"
        )
    assert "webhooks.stripe.secret" in str(caught.value)
    assert DEV_SECRETS["stripe"]["secret"] not in str(caught.value)


def test_production_without_any_provider_fails_loudly():
    """No provider at all outside 'fake' is a ConfigurationError, not an empty endpoint."""
    with pytest.raises(ConfigurationError, match="enables no port and no webhook provider"):
        build_webhook_ingress({"webhooks": {}}, environment="production")


def test_configured_secret_wins_over_dev_default():
    """In 'fake', a configured secret is used instead of the development one."""
    ingress = build_webhook_ingress(
        {"webhooks": {"replay": "memory", "whatsapp": {"app_secret": "real"}}}, environment="fake"
    )
    verifier = ingress.endpoints["whatsapp"].verifier
    assert isinstance(verifier, MetaWebhookVerifier)
    assert verifier.app_secret == "real"
    assert verifier.verify_token == DEV_SECRETS["whatsapp"]["verify_token"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_body": "lots"}, r"webhooks\.max_body: must be an integer"),
        ({"max_body": 0}, r"webhooks\.max_body: must be at least 1 byte"),
        ({"lease_seconds": -1}, r"webhooks\.lease_seconds: must not be negative"),
        ({"lease_seconds": 0}, r"webhooks\.lease_seconds: "),
        ({"replay": {"kind": "mongo"}}, r"webhooks\.replay\.kind: 'mongo' is not one of"),
        ({"replay": {"kind": "redis"}}, r"webhooks\.replay\.url: is required"),
        ({"stripe": "whsec_x"}, r"webhooks\.stripe: must be a section \(a mapping\)"),
        ({"strpe": {}}, r"webhooks: unknown setting 'strpe'; did you mean 'stripe'\?"),
    ],
)
def test_bad_settings_name_the_key(settings, message):
    """Every bad setting is a ConfigurationError naming its key, never a KeyError or a value."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        build_webhook_ingress({"webhooks": settings}, environment="fake")
    assert "whsec_x" not in str(caught.value)


def test_limits_and_public_url_reach_the_ingress():
    """max_body, lease_seconds and public_base_url are read (strings from env vars too)."""
    ingress = build_webhook_ingress(
        {
            "webhooks": {
                "replay": "memory",
                "max_body": "2048",
                "lease_seconds": "30",
                "public_base_url": "https://hooks.example.org",
            }
        }
    )
    assert (ingress.max_body, ingress.lease_seconds) == (2048, 30.0)
    assert ingress.public_base_url == "https://hooks.example.org"


def _replay_store(config):
    return build_replay_store(load_settings(config, env={}))


async def test_replay_store_kinds(tmp_path, redis_url):
    """memory, sqlite (by path, or by data_dir and environment) and redis build their store."""
    assert isinstance(_replay_store({}), MemoryReplayStore)  # fake without data_dir: memory
    assert isinstance(_replay_store({"webhooks": {"replay": "memory"}}), MemoryReplayStore)
    sqlite = _replay_store(
        {"webhooks": {"replay": {"kind": "sqlite", "path": str(tmp_path / "r")}}}
    )
    assert isinstance(sqlite, SQLiteReplayStore)
    await sqlite.close()
    default = _replay_store({"data_dir": str(tmp_path)})
    assert isinstance(default, SQLiteReplayStore)
    assert str(tmp_path / "portico-replay.fake.sqlite3") in repr(default)
    await default.close()
    production = _replay_store(
        {"environment": "production", "webhooks": {"stripe": {"secret": "s"}}}
    )
    assert isinstance(production, SQLiteReplayStore)
    assert "'portico-replay.sqlite3'" in repr(production)
    await production.close()
    redis = _replay_store({"webhooks": {"replay": {"kind": "redis", "url": redis_url}}})
    assert isinstance(redis, RedisReplayStore)
    await redis.close()


async def test_a_configured_replay_path_means_sqlite_in_the_fake_environment(tmp_path):
    """webhooks.replay.path alone (no kind, no data_dir) is an SQLite file at that path."""
    path = tmp_path / "r.sqlite3"
    store = _replay_store({"webhooks": {"replay": {"path": str(path)}}})
    assert isinstance(store, SQLiteReplayStore)
    assert str(path) in repr(store)
    await store.close()


def test_container_provides_one_ingress_from_its_config():
    """The container's webhook_ingress is a singleton built from config['webhooks']."""
    container = create_container({"webhooks": {"replay": "memory", "max_body": 4096}}, env={})
    ingress = container.webhook_ingress()
    assert ingress is container.webhook_ingress()
    assert ingress.max_body == 4096


def test_container_reads_webhook_secrets_from_environment_variables():
    """PORTICO_WEBHOOKS__STRIPE__SECRET configures the Stripe secret."""
    container = create_container(
        env={"PORTICO_WEBHOOKS__STRIPE__SECRET": "whsec_env", "PORTICO_WEBHOOKS__REPLAY": "memory"}
    )
    verifier = container.webhook_ingress().endpoints["stripe"].verifier
    assert isinstance(verifier, StripeWebhookVerifier)
    assert verifier.secrets == ("whsec_env",)
