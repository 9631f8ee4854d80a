"""
Builds the `WebhookIngress` from configuration: verifier and parser per provider, replay store.

The ``webhooks`` section (YAML, or ``PORTICO_WEBHOOKS__...`` variables)::

    webhooks:
      public_base_url: https://hooks.example.org   # what the providers call (behind a proxy)
      max_body: 1048576                            # bytes; larger deliveries are answered 413
      lease_seconds: 120                           # a crashed worker's claim is retried after this
      replay: {kind: sqlite, path: ./portico-replay.sqlite3}  # or memory, or redis with url
      failed_events: {kind: sqlite, path: ./portico-failed-events.sqlite3}  # or memory (bounded,
                         # lost on restart): events a handler refused for good, kept for replay;
                         # default: next to an SQLite replay file, memory with a memory replay
      stripe: {secret: whsec_...}                  # several, comma-separated, while rolling
      whatsapp: {app_secret: ..., verify_token: ...}
      hubspot: {client_secret: ..., allow_legacy: true}  # false: v3 signatures only
      twilio: {auth_token: ...}
      vapi: {secret: ..., header: X-Vapi-Secret}
      360dialog: {platform_secret: ...}            # partner HMAC, x-360dialog-signature
      subscribe_services: true   # false: the host registers its own handlers (the container's
                                 # services are then not subscribed; app.webhook_subscriptions)

Outside the ``fake`` environment a provider is served only when its section is present, and then
every secret it needs is required (a `ConfigurationError` names the missing key); development
secrets are refused there. In the ``fake`` environment every provider is served and a missing
secret is replaced by the fixed `DEV_SECRETS` value, with a warning in the log, so ``portico
serve`` works out of the box and a developer can sign test deliveries with known values.

``webhooks.hubspot.allow_legacy`` (default true): HubSpot signs CRM-object subscriptions of the
webhooks API with v1 (SHA-256 of secret + body: no URL, no timestamp), so refusing legacy
signatures would refuse them. The cost: a captured v1 delivery, its v3 headers stripped, verifies
forever; the replay store answers it as a duplicate only for its retention (7 days by default),
after which it would be processed again. Set it to false when every HubSpot sender of yours sends
``X-HubSpot-Signature-v3`` (timestamped, checked within 5 minutes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

from ...adapters.failed_events.memory import MemoryFailedEventLog
from ...adapters.failed_events.sqlite import (
    DEFAULT_FAILED_EVENTS_FILE,
    DEFAULT_FAILED_EVENTS_PATH,
    SQLiteFailedEventLog,
)
from ...adapters.hubspot.parser import HubSpotParser
from ...adapters.hubspot.verifier import HubSpotWebhookVerifier
from ...adapters.stores.memory import MemoryReplayStore
from ...adapters.stores.sqlite import SQLiteReplayStore
from ...adapters.stripe.parser import StripeParser
from ...adapters.stripe.verifier import StripeWebhookVerifier
from ...adapters.twilio.parser import TwilioParser
from ...adapters.twilio.verifier import TwilioWebhookVerifier
from ...adapters.vapi.parser import VapiParser
from ...adapters.vapi.verifier import VapiWebhookVerifier
from ...adapters.whatsapp.parser import WhatsAppParser
from ...adapters.whatsapp.verifier import Dialog360WebhookVerifier, MetaWebhookVerifier
from ...domain.errors import ConfigurationError, InvalidValue
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.failed_events import FailedEventLog
from ...ports.webhooks import ReplayStore
from ..services.webhook_ingress import DEFAULT_MAX_BODY, WebhookEndpoint, WebhookIngress


__all__ = [
    "DEFAULT_FAILED_EVENTS_PATH",
    "DEFAULT_REPLAY_PATH",
    "DEV_SECRETS",
    "PROVIDERS",
    "build_failed_event_log",
    "build_replay_store",
    "build_webhook_ingress",
    "close_webhook_ingress",
]

logger = logging.getLogger("portico.webhooks")

DEFAULT_REPLAY_PATH = "./portico-replay.sqlite3"
PROVIDERS = ("360dialog", "hubspot", "stripe", "twilio", "vapi", "whatsapp")

# Published on purpose: only ever used in the "fake" environment, refused everywhere else.
DEV_SECRETS: Mapping[str, Mapping[str, str]] = {
    "stripe": {"secret": "whsec_portico_development_only"},
    "whatsapp": {"app_secret": "portico-development-only", "verify_token": "portico-dev-token"},
    "hubspot": {"client_secret": "portico-development-only"},
    "twilio": {"auth_token": "portico-development-only"},
    "vapi": {"secret": "portico-development-only"},
    "360dialog": {"platform_secret": "portico-development-only"},
}
_REQUIRED = {
    "stripe": ("secret",),
    "whatsapp": ("app_secret",),
    "hubspot": ("client_secret",),
    "twilio": ("auth_token",),
    "vapi": ("secret",),
    "360dialog": ("platform_secret",),
}
_DEV_VALUES = frozenset(value for section in DEV_SECRETS.values() for value in section.values())


def _fail(message: str) -> Exception:
    return ConfigurationError(message)


def _section(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"{where} must be a mapping")
    return value


def _number(settings: Mapping[str, Any], key: str, default: float) -> float:
    raw = settings.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _fail(f"webhooks.{key} must be a number") from None
    if value <= 0:
        raise _fail(f"webhooks.{key} must be positive")
    return value


def _flag(raw: str | None, where: str, *, default: bool) -> bool:
    """A boolean setting from YAML (``True``) or a variable (``"false"``, ``"0"``)."""
    if raw is None:
        return default
    text = raw.strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise _fail(f"{where} must be true or false")


def _secrets(name: str, section: Mapping[str, Any], dev: bool) -> dict[str, str]:
    """The provider's settings as strings, development values filled in or refused."""
    values = {key: str(value) for key, value in section.items() if value not in (None, "")}
    for key in _REQUIRED[name]:
        if key in values:
            continue
        if not dev:
            raise _fail(f"webhooks.{name}.{key} is required to serve {name} webhooks")
        values[key] = DEV_SECRETS[name][key]
        logger.warning(
            "webhooks.%s.%s not set: using the published DEVELOPMENT value (environment "
            "'fake' only; never in production; see app.webhooks_wiring.DEV_SECRETS)",
            name,
            key,
        )
    if dev:
        for key, value in DEV_SECRETS[name].items():
            values.setdefault(key, value)
    elif _DEV_VALUES & set(values.values()):
        raise _fail(f"webhooks.{name}: a published development secret is refused here")
    return values


def _endpoint(name: str, values: Mapping[str, str], clock: Clock) -> WebhookEndpoint:
    """
    One provider's verifier and parser, on ``clock`` (timestamp windows, times of receipt).

    The verifiers get no ``public_base_url``: the ASGI app already hands them the public URL, and
    rebasing twice would repeat a path prefix.
    """
    if name == "stripe":
        rotation = tuple(s.strip() for s in values["secret"].split(",") if s.strip())
        return WebhookEndpoint(StripeWebhookVerifier(rotation, clock=clock), StripeParser())
    if name == "whatsapp":
        meta = MetaWebhookVerifier(values["app_secret"], verify_token=values.get("verify_token"))
        return WebhookEndpoint(meta, WhatsAppParser())
    if name == "hubspot":
        legacy = _flag(values.get("allow_legacy"), "webhooks.hubspot.allow_legacy", default=True)
        verifier = HubSpotWebhookVerifier(values["client_secret"], allow_legacy=legacy, clock=clock)
        return WebhookEndpoint(verifier, HubSpotParser())
    if name == "twilio":
        twilio = TwilioWebhookVerifier(values["auth_token"])
        return WebhookEndpoint(twilio, TwilioParser(clock=clock))
    if name == "360dialog":
        # The same Cloud API JSON as Meta's, signed with the partner's platform secret.
        d360 = Dialog360WebhookVerifier(values["platform_secret"])
        return WebhookEndpoint(d360, WhatsAppParser("360dialog"))
    header = values.get("header", "X-Vapi-Secret")
    vapi = VapiWebhookVerifier(values["secret"], header=header, clock=clock)
    return WebhookEndpoint(vapi, VapiParser(clock=clock))


def build_replay_store(settings: Mapping[str, Any], *, clock: Clock = SYSTEM_CLOCK) -> ReplayStore:
    """
    The replay store named by ``webhooks.replay.kind`` (default: SQLite at the default path).

    Memory and SQLite stores time leases and retention on ``clock``; Redis on its server's clock.
    """
    replay = settings.get("replay")
    section = {"kind": replay} if isinstance(replay, str) else _section(replay, "webhooks.replay")
    kind = str(section.get("kind") or "sqlite").lower()
    if kind == "memory":
        return MemoryReplayStore(clock=clock)
    if kind == "sqlite":
        return SQLiteReplayStore(str(section.get("path") or DEFAULT_REPLAY_PATH), clock=clock)
    if kind == "redis":
        url = section.get("url")
        if not url:
            raise _fail("webhooks.replay.url is required when webhooks.replay.kind is redis")
        from ...adapters.stores.redis_store import RedisReplayStore  # only when used

        return RedisReplayStore(str(url))
    raise _fail("webhooks.replay.kind must be memory, sqlite or redis")


def build_failed_event_log(
    settings: Mapping[str, Any], *, clock: Clock = SYSTEM_CLOCK
) -> FailedEventLog:
    """
    The log named by ``webhooks.failed_events.kind``; nothing is opened until first use.

    The default follows the replay store: SQLite (``portico-failed-events.sqlite3`` in the
    directory of an SQLite replay file, else ``./``), or memory when the replay store is memory
    (tests, a throwaway development server: nothing of it survives a restart anyway).
    ``clock`` stamps ``resolved_at``.
    """
    raw = settings.get("failed_events")
    section = {"kind": raw} if isinstance(raw, str) else _section(raw, "webhooks.failed_events")
    replay = settings.get("replay")
    replay_section = {"kind": replay} if isinstance(replay, str) else _section(replay, "replay")
    replay_kind = str(replay_section.get("kind") or "sqlite").lower()
    memory_default = replay_kind == "memory" and not section.get("path")
    kind = str(section.get("kind") or ("memory" if memory_default else "sqlite")).lower()
    if kind == "memory":
        return MemoryFailedEventLog(clock=clock)
    if kind == "sqlite":
        path = section.get("path")
        if not path and replay_kind == "sqlite" and replay_section.get("path"):
            path = PurePath(str(replay_section["path"])).with_name(DEFAULT_FAILED_EVENTS_FILE)
        return SQLiteFailedEventLog(str(path or DEFAULT_FAILED_EVENTS_PATH), clock=clock)
    raise _fail("webhooks.failed_events.kind must be memory or sqlite")


def build_webhook_ingress(
    config: Mapping[str, Any] | None = None,
    *,
    environment: str = "fake",
    store_factory: Callable[[Mapping[str, Any]], ReplayStore] | None = None,
    failed_log_factory: Callable[[Mapping[str, Any]], FailedEventLog] | None = None,
    min_lease_seconds: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
) -> WebhookIngress:
    """
    The ingress for the whole configuration tree (its ``webhooks`` section is read).

    ``clock`` is the time source of the verifiers' tolerance windows, the parsers' times of
    receipt and the ingress's failure records, and of the stores the default factories
    (`build_replay_store`, `build_failed_event_log`) build when no factory is given.

    ``min_lease_seconds`` is the longest a subscribed handler may legitimately run (the container
    passes `app.leases.intake_lease`): the event claim's lease is never shorter, or a slow but
    healthy handler would lose its claim and a redelivery would process the event concurrently.

    Raises:
        ConfigurationError: a required secret is missing, a setting has the wrong type, or no
            provider is configured outside the ``fake`` environment.
    """
    settings = _section((config or {}).get("webhooks"), "webhooks")
    dev = environment == "fake"
    public_base_url = settings.get("public_base_url") or None
    endpoints: dict[str, WebhookEndpoint] = {}
    for name in PROVIDERS:
        section = _section(settings.get(name), f"webhooks.{name}")
        if not section and not dev:
            continue
        try:
            endpoints[name] = _endpoint(name, _secrets(name, section, dev), clock)
        except InvalidValue as exc:
            raise _fail(f"webhooks.{name}.{exc.field}: {exc.rule}") from None
    if store_factory is None:
        store_factory = functools.partial(build_replay_store, clock=clock)
    if failed_log_factory is None:
        failed_log_factory = functools.partial(build_failed_event_log, clock=clock)
    if not endpoints:
        raise _fail(
            f"webhooks: no provider configured for environment {environment!r}; add a section "
            f"for one of {', '.join(PROVIDERS)} with its secret"
        )
    return WebhookIngress(
        endpoints,
        replay_store=store_factory(settings),
        max_body=int(_number(settings, "max_body", DEFAULT_MAX_BODY)),
        lease_seconds=max(_number(settings, "lease_seconds", 120.0), min_lease_seconds),
        public_base_url=str(public_base_url) if public_base_url else None,
        failed_log=failed_log_factory(settings),
        clock=clock,
    )


async def close_webhook_ingress(ingress: WebhookIngress) -> None:
    """Close the replay store and the failed-event log, when they hold a connection or a file."""
    close = getattr(ingress.replay_store, "close", None)
    if close is not None:
        await close()
    if ingress.failed_log is not None:
        await ingress.failed_log.close()
