"""
The composition root: builds every adapter, store and service from one validated `Settings`.

`create_container` loads the settings (``app.wiring.settings``: every problem at once, or
nothing), then resolves each enabled port, so nothing configuration-related can fail at first
use. Which adapter serves a port:

- ``fake`` environment (the default): the shipped in-memory fakes; no network, no credentials;
- ``sandbox`` / ``production``: the vendor that ``<port>.provider`` selects from the vendor
  registry (``app.wiring.registry``; a host adds its own with ``vendors=``).

Each port has two providers: ``<port>_adapter`` (the raw adapter; override it in tests) and
``<port>`` (what services receive: the adapter wrapped in its integration's resilience
pipeline). A port that is off raises `PortDisabled` naming how to enable it, and so does a
service that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from dependency_injector import containers, providers
from redis.asyncio import Redis

from ...adapters.fakes import FakeCRM, FakeEmail, FakeMessaging, FakePayments, FakeVoice
from ...adapters.resilience import (
    BreakerControl,
    BreakerRegistry,
    Pipeline,
    ResilientCRM,
    ResilientEmail,
    ResilientMessaging,
    ResilientPayments,
    ResilientVoice,
    SharedRateLimiter,
    build_pipeline,
)
from ...adapters.spec import BuildContext, VendorSpec
from ...domain.errors import ConfigurationError, InvalidValue
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.delivery_status import TextFallbackStore
from ...ports.execute import PORTS, CommandPorts
from ..services.follow_up_calls import FollowUpCalls
from ..services.lead_intake import LeadIntake
from ..services.message_failures import MessageFailures
from ..services.outbox_dispatch import OutboxDispatch
from ..services.payment_collection import PaymentCollection
from .audit import ContainerAuditSource
from .leases import intake_lease
from .outbox import build_relay, command_ports, relay_settings
from .registry import VendorRegistry
from .settings import Settings, load_settings
from .shared import build_shared_breaker, build_shared_limiter, build_shared_redis
from .stores import (
    build_breaker_control_store,
    build_failed_event_log,
    build_operator_action_log,
    build_outbox,
    build_replay_store,
    build_status_store,
)
from .subscriptions import EventSubscriber, build_subscribed_ingress
from .webhooks import build_endpoints


S = TypeVar("S")

__all__ = [
    "SERVICE_PORTS",
    "ConfigurationError",
    "Container",
    "PortDisabled",
    "create_container",
]

# The ports each service calls; a service is offered (and subscribed to webhooks) only when all
# of them are enabled.
SERVICE_PORTS: Mapping[str, tuple[str, ...]] = {
    "lead_intake": ("crm", "messaging"),
    "payment_collection": ("payments", "crm", "messaging"),
    "follow_up_calls": ("voice", "crm"),
    "message_failures": ("messaging",),
}


class PortDisabled(ConfigurationError):
    """A port (or a service needing it) was asked for, but the configuration leaves it off."""


def _disabled(settings: Settings, port: str, wanted: str) -> PortDisabled:
    vendors = [spec.name for spec in settings.registry.for_port(port)]
    return PortDisabled(
        f"{wanted} needs the {port} port, which this configuration leaves off: set "
        f"PORTICO_{port.upper()}__PROVIDER to one of {', '.join(vendors)} and that vendor's "
        f"settings (see the settings reference)"
    )


def _adapter(
    port: str,
    settings: Settings,
    fake: Callable[[], object],
    status_store: Callable[[], Any],
    clock: Clock,
    limiter: SharedRateLimiter | None = None,
) -> Any:
    """The raw adapter of ``port``: its fake, or its vendor built from its settings section."""
    if not settings.enabled(port):
        raise _disabled(settings, port, f"the {port} adapter")
    if settings.is_fake:
        return fake()
    spec: VendorSpec[Any] | None = settings.vendor_of(port)
    assert spec is not None  # enabled outside fake: load_settings resolved its vendor
    context = BuildContext(
        environment=settings.environment,
        status_store=status_store,
        clock=clock,
        rate_feedback=limiter,
    )
    try:
        return spec.build(settings.vendors[spec.name], context)
    except InvalidValue as err:
        raise ConfigurationError(f"{spec.name}.{err.field}: {err.rule}") from None


def _pipeline(
    port: str,
    settings: Settings,
    breakers: BreakerRegistry,
    control: BreakerControl,
    clock: Clock,
    limiter: SharedRateLimiter | None = None,
    redis: Callable[[], Redis | None] | None = None,
) -> Pipeline:
    integration = settings.integration(port)
    return build_pipeline(
        integration,
        settings.policy(integration),
        registry=breakers,
        control=control,
        shared_limiter=limiter,
        shared_breaker=None
        if redis is None
        else build_shared_breaker(port, settings, redis, clock),
        clock=clock,
    )


def _command_ports(settings: Settings, **ports: Callable[[], Any]) -> CommandPorts:
    """The enabled ports, for the relay and send-now (a disabled one is None: not served)."""
    return command_ports(
        **{name: make() if settings.enabled(name) else None for name, make in ports.items()}
    )


def _service(name: str, settings: Settings, make: Callable[[], S]) -> S:
    for port in SERVICE_PORTS[name]:
        if not settings.enabled(port):
            raise _disabled(settings, port, f"the {name} service")
    return make()


def _subscribers(
    settings: Settings, services: Mapping[str, Callable[[], EventSubscriber]]
) -> list[Callable[[], EventSubscriber]]:
    return [
        make
        for name, make in services.items()
        if all(settings.enabled(port) for port in SERVICE_PORTS[name])
    ]


def _maybe(
    settings: Settings, port: str, make: Callable[[], object]
) -> Callable[[], object] | None:
    return make if settings.enabled(port) else None


def _fallbacks(store: object) -> TextFallbackStore | None:
    """The status store as a text-fallback store, when it is one (every built-in kind is)."""
    return store if isinstance(store, TextFallbackStore) else None


class Container(containers.DeclarativeContainer):
    """Portico's providers. Build one with `create_container`; override any provider in tests."""

    settings = providers.Dependency(instance_of=Settings)
    environment = providers.Callable(lambda settings: settings.environment, settings)
    # The one time source: every fake, store, pipeline (and its breaker), vendor adapter,
    # verifier, parser and service below reads it. `create_container(clock=...)` overrides it
    # (a FakeClock in tests).
    clock = providers.Object(SYSTEM_CLOCK)

    # ---------------------------------------------------------------- stores
    outbox = providers.Singleton(build_outbox, settings, clock=clock)
    # The webhook replay store; lead intake also takes its per-sender claims from it.
    replay_store = providers.Singleton(build_replay_store, settings, clock=clock)
    status_store = providers.Singleton(build_status_store, settings, clock=clock)
    # Webhook events a handler refused for good (the ingress records them, the CLI reads them).
    failed_event_log = providers.Singleton(build_failed_event_log, settings, clock=clock)
    # What operators did from the console (`app.entrypoints.console`), kept across restarts.
    operator_action_log = providers.Singleton(build_operator_action_log, settings)

    # ---------------------------------------------------------------- fakes (environment "fake")
    fake_messaging = providers.Singleton(FakeMessaging, clock=clock)
    fake_crm = providers.Singleton(FakeCRM, clock=clock)
    fake_payments = providers.Singleton(FakePayments, clock=clock)
    fake_voice = providers.Singleton(FakeVoice, clock=clock)
    fake_email = providers.Singleton(FakeEmail, clock=clock)

    # ---------------------------------------------------------------- ports
    # One breaker per integration, shared by its pipelines and read by `portico health`; each
    # pipeline is the vendor's default policy overridden by ``resilience.<integration>``.
    breakers = providers.Singleton(BreakerRegistry)
    # Operator overrides (`portico breaker open stripe --for 10m`), read once a second.
    breaker_control_store = providers.Singleton(build_breaker_control_store, settings, clock=clock)
    breaker_control = providers.Singleton(
        BreakerControl, breaker_control_store, breakers, interval=1.0, clock=clock
    )

    # Shared rate limits (``resilience.<integration>.shared_limits``): one account quota on
    # Redis per integration, given to its pipeline and (for the vendor's headers) its adapter.
    shared_redis = providers.Singleton(build_shared_redis, settings)
    messaging_limiter = providers.Singleton(
        build_shared_limiter, "messaging", settings, shared_redis.provider, clock
    )
    crm_limiter = providers.Singleton(
        build_shared_limiter, "crm", settings, shared_redis.provider, clock
    )
    payments_limiter = providers.Singleton(
        build_shared_limiter, "payments", settings, shared_redis.provider, clock
    )
    voice_limiter = providers.Singleton(
        build_shared_limiter, "voice", settings, shared_redis.provider, clock
    )

    messaging_adapter = providers.Singleton(
        _adapter,
        "messaging",
        settings,
        fake_messaging.provider,
        status_store.provider,
        clock,
        messaging_limiter,
    )
    messaging_pipeline = providers.Singleton(
        _pipeline,
        "messaging",
        settings,
        breakers,
        breaker_control,
        clock,
        messaging_limiter,
        redis=shared_redis.provider,
    )
    messaging = providers.Callable(ResilientMessaging.around, messaging_adapter, messaging_pipeline)

    crm_adapter = providers.Singleton(
        _adapter,
        "crm",
        settings,
        fake_crm.provider,
        status_store.provider,
        clock,
        crm_limiter,
    )
    crm_pipeline = providers.Singleton(
        _pipeline,
        "crm",
        settings,
        breakers,
        breaker_control,
        clock,
        crm_limiter,
        redis=shared_redis.provider,
    )
    crm = providers.Callable(ResilientCRM.around, crm_adapter, crm_pipeline)

    payments_adapter = providers.Singleton(
        _adapter,
        "payments",
        settings,
        fake_payments.provider,
        status_store.provider,
        clock,
        payments_limiter,
    )
    payments_pipeline = providers.Singleton(
        _pipeline,
        "payments",
        settings,
        breakers,
        breaker_control,
        clock,
        payments_limiter,
        redis=shared_redis.provider,
    )
    payments = providers.Callable(ResilientPayments.around, payments_adapter, payments_pipeline)

    voice_adapter = providers.Singleton(
        _adapter,
        "voice",
        settings,
        fake_voice.provider,
        status_store.provider,
        clock,
        voice_limiter,
    )
    voice_pipeline = providers.Singleton(
        _pipeline,
        "voice",
        settings,
        breakers,
        breaker_control,
        clock,
        voice_limiter,
        redis=shared_redis.provider,
    )
    voice = providers.Callable(ResilientVoice.around, voice_adapter, voice_pipeline)

    email_adapter = providers.Singleton(
        _adapter, "email", settings, fake_email.provider, status_store.provider, clock
    )
    email_pipeline = providers.Singleton(
        _pipeline, "email", settings, breakers, breaker_control, clock, redis=shared_redis.provider
    )
    email = providers.Callable(ResilientEmail.around, email_adapter, email_pipeline)

    command_ports = providers.Callable(
        _command_ports,
        settings,
        messaging=messaging.provider,
        crm=crm.provider,
        payments=payments.provider,
        voice=voice.provider,
        email=email.provider,
    )

    # ---------------------------------------------------------------- outbox
    relay = providers.Factory(
        build_relay,
        outbox,
        command_ports,
        settings=providers.Callable(lambda s: relay_settings(s.outbox), settings),
        clock=clock,
    )
    outbox_dispatch = providers.Factory(
        OutboxDispatch,
        outbox,
        command_ports,
        settle_delay=providers.Callable(lambda s: s.outbox.settle_delay, settings),
    )

    # ---------------------------------------------------------------- services
    _lead_intake = providers.Factory(
        LeadIntake,
        crm=crm,
        dispatch=outbox_dispatch,
        claims=replay_store,
        claim_lease=providers.Callable(intake_lease, crm_pipeline),
        deal_stage=providers.Callable(lambda s: s.crm.deal_stage, settings),
        pipeline=providers.Callable(lambda s: s.crm.pipeline, settings),
    )
    _payment_collection = providers.Factory(
        PaymentCollection,
        payments=payments,
        crm=crm,
        dispatch=outbox_dispatch,
        success_url=providers.Callable(lambda s: s.payments.success_url, settings),
        cancel_url=providers.Callable(lambda s: s.payments.cancel_url, settings),
        won_stage=providers.Callable(lambda s: s.crm.won_stage, settings),
        link_template=providers.Callable(lambda s: s.messaging.link_template, settings),
        receipt_template=providers.Callable(lambda s: s.messaging.receipt_template, settings),
        language=providers.Callable(lambda s: s.messaging.language, settings),
        claims=replay_store,
        clock=clock,
        fallbacks=providers.Callable(_fallbacks, status_store),
        # Receipts also by email when the email port is on (the outbox serves only ports on).
        email_sender=providers.Callable(
            lambda s: s.email.sender if s.enabled("email") else None, settings
        ),
        receipt_subject=providers.Callable(lambda s: s.email.receipt_subject, settings),
    )
    _follow_up_calls = providers.Factory(
        FollowUpCalls,
        voice=voice,
        crm=crm,
        dispatch=outbox_dispatch,
        assistant_id=providers.Callable(lambda s: s.voice.assistant_id, settings),
    )
    # A text accepted and then reported failed (131047) is sent again as its template.
    _message_failures = providers.Factory(
        MessageFailures,
        dispatch=outbox_dispatch,
        fallbacks=providers.Callable(_fallbacks, status_store),
    )
    lead_intake = providers.Callable(_service, "lead_intake", settings, _lead_intake.provider)
    payment_collection = providers.Callable(
        _service, "payment_collection", settings, _payment_collection.provider
    )
    follow_up_calls = providers.Callable(
        _service, "follow_up_calls", settings, _follow_up_calls.provider
    )
    message_failures = providers.Callable(
        _service, "message_failures", settings, _message_failures.provider
    )

    # ---------------------------------------------------------------- the audit report
    # `portico health` and the console read the live state through it (app.services.audit_report).
    audit_source = providers.Factory(
        ContainerAuditSource,
        settings=settings,
        breakers=breakers,
        control=breaker_control,
        ports=providers.Dict(
            messaging=messaging.provider,
            crm=crm.provider,
            payments=payments.provider,
            voice=voice.provider,
        ),
        outbox=outbox.provider,
        clock=clock,
    )

    # ---------------------------------------------------------------- webhooks
    # Verifier + parser per configured provider, the replay store shared with lead intake, the
    # services subscribed (those whose ports are on) and status webhooks feeding the messaging
    # adapter's status store, unless webhooks.subscribe_services is false.
    webhook_ingress = providers.Singleton(
        build_subscribed_ingress,
        settings,
        services=providers.Callable(
            _subscribers,
            settings,
            providers.Dict(
                lead_intake=_lead_intake.provider,
                payment_collection=_payment_collection.provider,
                follow_up_calls=_follow_up_calls.provider,
                message_failures=_message_failures.provider,
            ),
        ),
        messaging=providers.Callable(_maybe, settings, "messaging", messaging_adapter.provider),
        replay_store=replay_store.provider,
        failed_log=failed_event_log.provider,
        # Lead intake runs inside the MessageReceived handler: the event claim must outlast it.
        min_lease_seconds=providers.Callable(intake_lease, crm_pipeline),
        clock=clock,
    )


def create_container(
    config: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    vendors: Iterable[VendorSpec[Any]] = (),
    settings: Settings | None = None,
    clock: Clock | None = None,
) -> Container:
    """
    A `Container` for ``config`` layered over ``PORTICO_*`` variables and a YAML file.

    Args:
        config: settings as a nested mapping (highest precedence).
        env: the variables to read; defaults to ``os.environ`` (pass ``{}`` to ignore them).
        vendors: extra `VendorSpec` s to register beside Portico's own.
        settings: already-loaded settings (then ``config``, ``env`` and ``vendors`` are unused).
        clock: the one time source of everything the container builds (default
            `SYSTEM_CLOCK`): pass a `portico.testing.FakeClock` and retries, breakers, timeouts,
            limiters, webhook tolerance windows, the stores' stamps, the fakes' timestamps and
            the services all follow it.

    Raises:
        ConfigurationError: every configuration problem at once, before anything is served.
    """
    if settings is None:
        import os

        registry = VendorRegistry.builtin(vendors)
        settings = load_settings(config, env=os.environ if env is None else env, registry=registry)
    container = Container(settings=settings)
    if clock is not None:
        container.clock.override(providers.Object(clock))
    problems: list[str] = []
    for port in PORTS:
        if not settings.enabled(port):
            continue
        try:
            getattr(container, port)()
        except ConfigurationError as exc:
            problems.extend(exc.problems)
    try:
        container.relay()  # the lease must outlast every enabled port's worst case
    except ValueError as exc:
        problems.append(str(exc))
    try:
        build_endpoints(settings, container.clock())  # the verifiers check their secrets' shape
    except ConfigurationError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigurationError(*problems)
    return container
