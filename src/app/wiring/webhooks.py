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
      graph: {client_state: ..., enabled: true}    # Microsoft Graph change notifications
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
from typing import Any

import attrs

from ...adapters.spec import SECRET
from ...domain.errors import ConfigurationError, InvalidValue
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.failed_events import FailedEventLog
from ...ports.webhooks import ReplayStore
from ..services.webhook_ingress import WebhookEndpoint, WebhookIngress
from .registry import BUILTIN_VENDORS
from .settings import Settings, load_settings
from .stores import build_failed_event_log, build_replay_store


__all__ = [
    "DEV_SECRETS",
    "PROVIDERS",
    "build_endpoints",
    "build_ingress",
    "build_webhook_ingress",
    "close_webhook_ingress",
]

logger = logging.getLogger("portico.webhooks")

# Published on purpose: only ever used in the "fake" environment, refused everywhere else.
DEV_SECRETS: Mapping[str, Mapping[str, str]] = {
    spec.webhook.provider: dict(spec.webhook.development)
    for spec in BUILTIN_VENDORS
    if spec.webhook is not None
}
PROVIDERS = tuple(sorted(DEV_SECRETS))


def build_ingress(
    settings: Settings,
    *,
    replay_store: ReplayStore | None = None,
    failed_log: FailedEventLog | None = None,
    min_lease_seconds: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
) -> WebhookIngress:
    """
    The ingress for ``settings``: one endpoint per configured provider (every provider, with the
    development secrets, in the ``fake`` environment).

    ``clock`` is the time source of the verifiers' tolerance windows, the parsers' times of
    receipt, the failure records, and the stores built here when none is given.

    ``min_lease_seconds`` is the longest a subscribed handler may legitimately run (the container
    passes the intake lease): the event claim's lease is never shorter, or a slow but healthy
    handler would lose its claim and a redelivery would process the event concurrently.
    """
    endpoints = build_endpoints(settings, clock)
    hooks = {spec.webhook.provider: spec.webhook for spec in settings.registry if spec.webhook}
    development = [
        name
        for provider, section in settings.webhooks.providers.items()
        for name in _development_fields(provider, section, hooks[provider].development)
    ]
    if development:
        logger.warning(
            "webhooks: published DEVELOPMENT secrets in use for %s (environment 'fake' only; "
            "refused elsewhere; see portico.testing.DEV_SECRETS)",
            ", ".join(development),
        )
    webhooks = settings.webhooks
    return WebhookIngress(
        endpoints,
        replay_store=(
            replay_store if replay_store is not None else build_replay_store(settings, clock=clock)
        ),
        max_body=webhooks.max_body,
        lease_seconds=max(webhooks.lease_seconds, min_lease_seconds),
        public_base_url=webhooks.public_base_url,
        failed_log=(
            failed_log if failed_log is not None else build_failed_event_log(settings, clock=clock)
        ),
        clock=clock,
    )


def build_endpoints(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> dict[str, WebhookEndpoint]:
    """
    A verifier and a parser per configured provider.

    Raises:
        ConfigurationError: every provider whose verifier refuses its secrets (a shape the
            settings model cannot know), naming the provider and the field.
    """
    hooks = {spec.webhook.provider: spec.webhook for spec in settings.registry if spec.webhook}
    endpoints: dict[str, WebhookEndpoint] = {}
    problems: list[str] = []
    for provider, section in settings.webhooks.providers.items():
        try:
            verifier, parser = hooks[provider].endpoint(section, clock)
        except InvalidValue as exc:
            problems.append(f"webhooks.{provider}.{exc.field}: {exc.rule}")
            continue
        except ValueError as exc:
            problems.append(f"webhooks.{provider}: {exc}")
            continue
        endpoints[provider] = WebhookEndpoint(
            verifier, parser, accepted_status=hooks[provider].accepted_status
        )
    if problems:
        raise ConfigurationError(*problems)
    return endpoints


def _development_fields(provider: str, section: Any, development: Mapping[str, str]) -> list[str]:
    """The secret fields of ``section`` that hold their published development value."""
    return [
        f"{provider}.{field.name}"
        for field in attrs.fields(type(section))
        if field.metadata.get(SECRET)
        and getattr(section, field.name) == development.get(field.name)
    ]


def build_webhook_ingress(
    config: Mapping[str, Any] | None = None,
    *,
    environment: str = "fake",
    store_factory: Callable[[Settings], ReplayStore] | None = None,
    failed_log_factory: Callable[[Settings], FailedEventLog] | None = None,
    min_lease_seconds: float = 0.0,
    clock: Clock = SYSTEM_CLOCK,
) -> WebhookIngress:
    """
    An ingress straight from a configuration mapping, without a container (tools and tests).

    ``config`` is read as `load_settings` reads it (``PORTICO_*`` variables are not consulted),
    in ``environment`` unless the mapping names one. ``clock`` is the time source of the
    verifiers' tolerance windows, the parsers' times of receipt and the ingress's failure
    records, and of the stores the default factories (`build_replay_store`,
    `build_failed_event_log`) build when no factory is given.

    Raises:
        ConfigurationError: every problem of the configuration at once.
    """
    settings = load_settings({"environment": environment, **dict(config or {})}, env={})
    if store_factory is None:
        store_factory = functools.partial(build_replay_store, clock=clock)
    if failed_log_factory is None:
        failed_log_factory = functools.partial(build_failed_event_log, clock=clock)
    return build_ingress(
        settings,
        replay_store=store_factory(settings),
        failed_log=failed_log_factory(settings),
        min_lease_seconds=min_lease_seconds,
        clock=clock,
    )


async def close_webhook_ingress(ingress: WebhookIngress) -> None:
    """Close the replay store and the failed-event log, when they hold a connection or a file."""
    close = getattr(ingress.replay_store, "close", None)
    if close is not None:
        await close()
    if ingress.failed_log is not None:
        await ingress.failed_log.close()
