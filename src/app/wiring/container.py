"""
The composition root: the one place that picks adapters, by environment, and builds the services.

``environment`` selects the adapters of every port:

- ``fake`` (the default): the shipped in-memory fakes; no network, no credentials.
- ``sandbox`` / ``production``: the vendors' HTTP adapters, with test or live credentials.

Each port has two providers: ``<port>_adapter`` (the raw adapter, a `Selector`) and ``<port>``
(what services receive). Cross-cutting wrappers (resilience) go between the two, in one line.

Configuration comes, lowest precedence first, from `DEFAULTS`, a YAML file (``config_file``),
``PORTICO_*`` environment variables (``PORTICO_PAYMENTS__SUCCESS_URL`` sets
``payments.success_url``) and the mapping given to `create_container`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml
from dependency_injector import containers, providers

from ...adapters.fakes import FakeCRM, FakeMessaging, FakePayments, FakeVoice
from ...adapters.resilience import (
    BreakerRegistry,
    ResilientCRM,
    ResilientMessaging,
    ResilientPayments,
    ResilientVoice,
    pipeline_from_config,
)
from ...domain.errors import ConfigurationError
from ...domain.time import SYSTEM_CLOCK, Clock
from ..services.follow_up_calls import FollowUpCalls
from ..services.lead_intake import LeadIntake
from ..services.outbox_dispatch import OutboxDispatch
from ..services.payment_collection import PaymentCollection
from .adapters import (
    build_crm,
    build_messaging,
    build_payments,
    build_voice,
    check_production_config,
    messaging_integration,
)
from .leases import intake_lease
from .outbox import (
    build_outbox,
    build_relay,
    command_ports,
    lease_seconds,
    settle_delay,
)
from .subscriptions import build_subscribed_ingress, replay_store_from_config


__all__ = [
    "DEFAULTS",
    "ENVIRONMENTS",
    "ENV_PREFIX",
    "ConfigurationError",
    "Container",
    "create_container",
]

ENV_PREFIX = "PORTICO_"
ENVIRONMENTS = ("fake", "sandbox", "production")
DEFAULTS: Mapping[str, Any] = {
    "environment": "fake",
    "crm": {"pipeline": "default", "deal_stage": "appointmentscheduled", "won_stage": "closedwon"},
    "payments": {"success_url": "https://portico.invalid/paid", "cancel_url": None},
    "messaging": {
        "language": "en",
        "link_template": "payment_link",
        "receipt_template": "payment_receipt",
    },
    "voice": {"assistant_id": "portico-follow-up"},
}


def _environment(value: object) -> str:
    name = str(value or "fake").strip().lower()
    if name not in ENVIRONMENTS:
        raise ConfigurationError(
            f"environment must be one of {', '.join(ENVIRONMENTS)} (PORTICO_ENVIRONMENT)"
        )
    return name


class Container(containers.DeclarativeContainer):
    """Portico's providers. Build one with `create_container`; override any provider in tests."""

    config = providers.Configuration(strict=True)
    environment = providers.Callable(_environment, config.environment)
    # The one time source: every fake, pipeline (and its breaker), verifier and service below
    # reads it. `create_container(clock=...)` overrides it (a FakeClock in tests).
    clock = providers.Object(SYSTEM_CLOCK)

    # ---------------------------------------------------------------- fakes (environment "fake")
    fake_messaging = providers.Singleton(FakeMessaging, clock=clock)
    fake_crm = providers.Singleton(FakeCRM, clock=clock)
    fake_payments = providers.Singleton(FakePayments, clock=clock)
    fake_voice = providers.Singleton(FakeVoice, clock=clock)

    # ---------------------------------------------------------------- resilience
    # One breaker per integration, shared by its pipelines and read by `portico health`. Each
    # port's pipeline is DEFAULT_POLICIES[integration] overridden by config["resilience"][...];
    # each exposed port below is its adapter wrapped in the Resilient* decorator.
    breakers = providers.Singleton(BreakerRegistry)
    # The messaging pipeline is named for the provider in use (whatsapp, 360dialog or twilio).
    messaging_pipeline = providers.Singleton(
        pipeline_from_config,
        providers.Callable(messaging_integration, config),
        config,
        registry=breakers,
        clock=clock,
    )
    crm_pipeline = providers.Singleton(
        pipeline_from_config, "hubspot", config, registry=breakers, clock=clock
    )
    payments_pipeline = providers.Singleton(
        pipeline_from_config, "stripe", config, registry=breakers, clock=clock
    )
    voice_pipeline = providers.Singleton(
        pipeline_from_config, "vapi", config, registry=breakers, clock=clock
    )

    # ---------------------------------------------------------------- messaging
    messaging_adapter = providers.Selector(
        environment,
        fake=fake_messaging,
        sandbox=providers.Singleton(build_messaging, config),
        production=providers.Singleton(build_messaging, config),
    )
    # Wrapping point: the port services get (resilience wraps messaging_adapter here).
    messaging = providers.Callable(ResilientMessaging.around, messaging_adapter, messaging_pipeline)

    # ---------------------------------------------------------------- crm
    crm_adapter = providers.Selector(
        environment,
        fake=fake_crm,
        sandbox=providers.Singleton(build_crm, config),
        production=providers.Singleton(build_crm, config),
    )
    # Wrapping point: the port services get (resilience wraps crm_adapter here).
    crm = providers.Callable(ResilientCRM.around, crm_adapter, crm_pipeline)

    # ---------------------------------------------------------------- payments
    payments_adapter = providers.Selector(
        environment,
        fake=fake_payments,
        sandbox=providers.Singleton(build_payments, config),
        production=providers.Singleton(build_payments, config),
    )
    # Wrapping point: the port services get (resilience wraps payments_adapter here).
    payments = providers.Callable(ResilientPayments.around, payments_adapter, payments_pipeline)

    # ---------------------------------------------------------------- voice
    voice_adapter = providers.Selector(
        environment,
        fake=fake_voice,
        sandbox=providers.Singleton(build_voice, config),
        production=providers.Singleton(build_voice, config),
    )
    # Wrapping point: the port services get (resilience wraps voice_adapter here).
    voice = providers.Callable(ResilientVoice.around, voice_adapter, voice_pipeline)

    # ---------------------------------------------------------------- outbox (app.outbox_wiring)
    # config outbox.kind: sqlite (default; outbox.path) | postgres (outbox.postgres_url). The relay
    # and send-now both go through the resilient ports above.
    outbox = providers.Singleton(build_outbox, config, clock=clock)
    relay = providers.Factory(
        build_relay,
        outbox,
        messaging,
        crm,
        payments,
        voice,
        lease_seconds=providers.Callable(lease_seconds, config),
        clock=clock,
    )
    outbox_dispatch = providers.Factory(
        OutboxDispatch,
        outbox,
        providers.Callable(command_ports, messaging, crm, payments, voice),
        settle_delay=providers.Callable(settle_delay, config),
    )

    # The webhook replay store; lead intake also takes its per-sender claims from it.
    replay_store = providers.Singleton(replay_store_from_config, config, clock=clock)

    # ---------------------------------------------------------------- services
    lead_intake = providers.Factory(
        LeadIntake,
        crm=crm,
        dispatch=outbox_dispatch,
        claims=replay_store,
        claim_lease=providers.Callable(intake_lease, crm_pipeline),
        deal_stage=config.crm.deal_stage,
        pipeline=config.crm.pipeline,
    )
    payment_collection = providers.Factory(
        PaymentCollection,
        payments=payments,
        crm=crm,
        dispatch=outbox_dispatch,
        success_url=config.payments.success_url,
        cancel_url=config.payments.cancel_url,
        won_stage=config.crm.won_stage,
        link_template=config.messaging.link_template,
        receipt_template=config.messaging.receipt_template,
        language=config.messaging.language,
        claims=replay_store,
        clock=clock,
    )
    follow_up_calls = providers.Factory(
        FollowUpCalls,
        voice=voice,
        crm=crm,
        dispatch=outbox_dispatch,
        assistant_id=config.voice.assistant_id,
    )

    # ---------------------------------------------------------------- webhooks
    # Verifier + parser per provider and the replay store, from config["webhooks"] (see
    # app.webhooks_wiring); built on first use, so an app without webhooks needs no secrets.
    # The services below are subscribed to it, and status webhooks feed the messaging adapter's
    # status log, unless webhooks.subscribe_services is false (app.webhook_subscriptions).
    webhook_ingress = providers.Singleton(
        build_subscribed_ingress,
        config,
        environment=environment,
        services=providers.List(
            lead_intake.provider, payment_collection.provider, follow_up_calls.provider
        ),
        messaging=messaging_adapter.provider,
        replay_store=replay_store.provider,
        # Lead intake runs inside the MessageReceived handler: the event claim must outlast it.
        min_lease_seconds=providers.Callable(intake_lease, crm_pipeline),
        clock=clock,
    )


def env_config(env: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """
    ``PORTICO_*`` variables as a nested dict: ``__`` nests, names are lower-cased.

    Variable names are therefore case-insensitive, including keys chosen by the user (the
    Twilio content-SID names match templates case-insensitively for this reason).

    ``PORTICO_ENVIRONMENT=sandbox`` -> ``{"environment": "sandbox"}``;
    ``PORTICO_STRIPE__API_KEY=...`` -> ``{"stripe": {"api_key": "..."}}``.
    """
    tree: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        path = [part.lower() for part in name[len(prefix) :].split("__")]
        if any(not part for part in path):
            raise ConfigurationError(f"{name}: empty segment in the variable name")
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigurationError(f"{name}: {part!r} is both a value and a section")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise ConfigurationError(f"{name}: {path[-1]!r} is both a value and a section")
        node[path[-1]] = value
    return tree


def create_container(
    config: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> Container:
    """
    Build a `Container` from defaults, a YAML file, ``PORTICO_*`` variables and ``config``.

    The YAML file is ``config["config_file"]`` or ``PORTICO_CONFIG_FILE``. ``env`` defaults to
    ``os.environ``. The selected environment's adapters are resolved once here, so a missing
    adapter or setting fails at start-up with a `ConfigurationError`, not on the first call.
    ``clock`` (default `SYSTEM_CLOCK`) is the one time source of everything the container builds:
    pass a `portico.testing.FakeClock` and retries, breakers, timeouts, limiters, webhook
    tolerance windows, the fakes' timestamps and the services all follow it.
    """
    env = os.environ if env is None else env
    from_env = env_config(env)
    given = dict(config or {})
    container = Container()
    if clock is not None:
        container.clock.override(providers.Object(clock))
    container.config.from_dict(dict(DEFAULTS))
    config_file = given.get("config_file") or from_env.get("config_file")
    if config_file:
        try:
            container.config.from_yaml(str(config_file), required=True)
        except FileNotFoundError:
            raise ConfigurationError("config_file: no such YAML file") from None
        except yaml.YAMLError as exc:  # the parser's message quotes the line: it may be a secret
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ConfigurationError(f"config_file: not valid YAML{where}") from None
        except OSError as exc:
            reason = f"config_file: cannot be read ({type(exc).__name__})"
            raise ConfigurationError(reason) from None
    for layer in (from_env, given):
        if layer:  # from_dict refuses an empty mapping
            container.config.from_dict(layer)
    environment = container.environment()
    if environment != "fake":
        missing = check_production_config(container.config())
        if missing:
            raise ConfigurationError(
                f"environment {environment!r} needs these variables: {', '.join(missing)}"
            )
    for port in ("messaging", "crm", "payments", "voice"):
        getattr(container, port)()
    return container
