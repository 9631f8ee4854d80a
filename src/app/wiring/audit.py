"""
The audit report's one reader of the live system: ``Container.audit_source``.

`ContainerAuditSource.gather` reads what `app.services.audit_report` judges: each breaker (after
the operator overrides are refreshed, and after one probe per enabled port when asked), each
integration's resilience policy and rate limit, each webhook provider's verifier and replay
store, the outbox's counts (read-only: it never creates a store), and the secrets that must not
be used outside the ``fake`` environment (by setting name, never by value).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs

from ...adapters.outbox import NotAnOutbox, OutboxNotFound
from ...adapters.resilience import BreakerControl, BreakerRegistry, IntegrationHealth
from ...adapters.spec import SECRET
from ...adapters.webhooks.signatures import describe_url
from ...domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    LocalRejection,
    NotFound,
    PermissionDenied,
    RetryExhaustedError,
    TransientError,
)
from ...domain.outbox import OutboxStatus
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.outbox import Outbox
from ...ports.webhooks import DescribesScheme
from ..services.audit_state import (
    AuditSource,
    AuditState,
    ClientRow,
    Finding,
    OutboxRow,
    OutboxSummary,
    ResilienceRow,
    SecretIssue,
    WebhookRow,
)
from ..services.outbox_health import DEFAULT_MAX_PENDING_AGE
from .settings import Settings
from .stores import build_outbox, describe, replay_retention, store_kind
from .webhooks import build_endpoints


__all__ = ["PROBED_PORTS", "ContainerAuditSource", "development_secrets", "probe_reason"]

# The ports `portico health --probe` reads (email has no cheap authenticated read).
PROBED_PORTS = ("messaging", "crm", "payments", "voice")
# Values people paste while setting up; a secret that is one of them (or holds one) is not real.
_PLACEHOLDERS = ("changeme", "change-me", "change_me", "placeholder", "example", "development")
_PLACEHOLDER_VALUES = frozenset({"secret", "password", "test", "dev", "todo", "xxx", "none"})


@attrs.define
class ContainerAuditSource(AuditSource):
    """
    Reads the container's live state for `build_audit_report`.

    Args:
        settings: the validated settings.
        breakers: every integration's breaker and policy.
        control: the operator overrides (refreshed first, so ``portico breaker open`` shows).
        ports: port name -> a function returning the resilient port (probed with ``probe``).
        outbox: returns the container's own outbox; read only when it is in memory (this
            process's, as the console serves it); any other kind is opened read-only.
        clock: the container's time source (the report's ``generated_at``, the stores' view).
    """

    settings: Settings
    breakers: BreakerRegistry
    control: BreakerControl
    ports: Mapping[str, Callable[[], Any]] = attrs.field(factory=dict)
    outbox: Callable[[], Outbox] | None = None
    clock: Clock = SYSTEM_CLOCK

    async def gather(self, *, probe: bool, max_pending_age: float | None) -> AuditState:
        """The state now (see `AuditSource.gather`)."""
        probes = await self._probe() if probe else {}  # integration -> "ok" or why not
        self.control.refresh()
        await self.breakers.refresh_shared()  # circuits on Redis, as other workers left them
        rows = self.breakers.snapshot()
        webhooks, problems = self._webhooks()
        limit = DEFAULT_MAX_PENDING_AGE if max_pending_age is None else max_pending_age
        return AuditState(
            environment=self.settings.environment,
            workers=self.settings.shared.expected_workers,
            probed=probe,
            clients=tuple(_client(row, probes.get(row.name)) for row in rows),
            resilience=self._resilience(rows),
            webhooks=webhooks,
            outbox=await read_outbox(self.settings, limit, clock=self.clock, live=self.outbox),
            generated_at=self.clock.now(),
            secrets=development_secrets(self.settings),
            problems=problems,
        )

    async def _probe(self) -> dict[str, str]:
        """Call ``probe()`` on every enabled port: integration -> "ok" or why it failed."""
        outcomes: dict[str, str] = {}
        for port in PROBED_PORTS:
            make = self.ports.get(port)
            if make is None or not self.settings.enabled(port):
                continue  # left off by the configuration: nothing to probe
            read: Callable[[], Awaitable[None]] = make().probe
            integration = self.settings.integration(port)
            try:
                await read()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none passes
                reason = f"{port}: {probe_reason(exc)}: {type(exc).__name__}: {exc}"
                outcomes[integration] = reason
            else:
                outcomes[integration] = "ok"
        return outcomes

    def _resilience(self, rows: Iterable[IntegrationHealth]) -> tuple[ResilienceRow, ...]:
        shared = {}
        for line in self.breakers.limiter_status():
            name, _, status = line.partition(": ")
            shared[name] = status
        result = []
        for row in rows:
            policy = self.settings.policy(row.name)
            local = "none" if policy.rate is None else f"{policy.rate:g}/s burst {policy.burst}"
            result.append(
                ResilienceRow(
                    integration=row.name,
                    retry_max=row.retry_max,
                    backoff=row.backoff,
                    failure_threshold=row.stats.failure_threshold,
                    reset_timeout=row.stats.reset_timeout,
                    rate=policy.rate,
                    burst=None if policy.rate is None else policy.burst,
                    rate_limit=shared.get(row.name, f"{local} (this process)"),
                )
            )
        return tuple(result)

    def _webhooks(self) -> tuple[tuple[WebhookRow, ...], tuple[Finding, ...]]:
        settings = self.settings
        try:
            endpoints = build_endpoints(settings, self.clock)
        except ConfigurationError as exc:
            return (), (Finding("critical", "webhooks_misconfigured", "webhooks", str(exc)),)
        replay = settings.webhooks.replay
        kind = store_kind(settings, replay.kind, replay.path)
        base = settings.webhooks.public_base_url
        rows = []
        for provider in sorted(endpoints):
            verifier = endpoints[provider].verifier
            section = settings.webhooks.providers[provider]
            if isinstance(verifier, DescribesScheme):
                scheme = verifier.scheme()
                described, tolerance = scheme.scheme, scheme.tolerance
                legacy, cost = scheme.legacy, scheme.legacy_cost
            else:
                described, tolerance = f"{type(verifier).__name__} (not described)", None
                legacy = cost = None
            rows.append(
                WebhookRow(
                    provider=provider,
                    scheme=described,
                    secret_configured=all(
                        bool(value) for _, value in _secret_fields(section, required_only=True)
                    ),
                    timestamp_tolerance=tolerance,
                    replay_kind=kind,
                    replay_retention=replay_retention(kind),
                    replay_persistent=kind != "memory",
                    public_base_url=None if base is None else describe_url(base),
                    legacy=legacy,
                    legacy_cost=cost,
                    unset_secrets=tuple(
                        f"webhooks.{provider}.{name}"
                        for name, value in _secret_fields(section)
                        if value is None
                    ),
                )
            )
        return tuple(rows), ()


def probe_reason(exc: Exception) -> str:
    """The operator's word for a failed probe."""
    cause = exc.last_error if isinstance(exc, RetryExhaustedError) else exc
    if isinstance(cause, AuthenticationFailed | PermissionDenied):
        return "credentials refused"
    if isinstance(cause, TransientError):
        return "unreachable"
    if isinstance(cause, LocalRejection):
        return "refused locally (circuit open or rate limited)"
    if isinstance(cause, NotFound):
        return "not found at the vendor"
    if isinstance(cause, NotImplementedError):
        return "cannot be probed"
    return "failed"


def _client(row: IntegrationHealth, probe: str | None) -> ClientRow:
    stats = row.stats
    return ClientRow(
        integration=stats.name,
        circuit=stats.state.name,
        retry_in=stats.retry_in,
        failures=stats.failures,
        rejections=stats.rejections,
        last_success_age=None
        if stats.last_success is None
        else max(row.now - stats.last_success, 0.0),
        override_for=stats.override_for,
        probe=probe,
        shared=None if row.shared is None else row.shared.describe(),
        shared_detail=None if row.shared is None else attrs.asdict(row.shared),
    )


async def read_outbox(
    settings: Settings,
    max_pending_age: float,
    *,
    clock: Clock = SYSTEM_CLOCK,
    live: Callable[[], Outbox] | None = None,
) -> OutboxSummary:
    """
    The outbox's counts, read-only (never creates a store); unreadable says why. A memory outbox
    exists only in its process: ``live`` returns it (kept open), else it reads as empty.
    """
    section = settings.outbox
    in_memory = store_kind(settings, section.kind, section.path) == "memory"
    try:
        outbox = (
            live()
            if in_memory and live is not None
            else build_outbox(settings, mode="read_only", clock=clock)
        )
    except ValueError as exc:
        return OutboxSummary("unreadable", f"misconfigured: {exc}", max_pending_age)
    try:
        try:
            status: OutboxStatus = await outbox.status()
        finally:
            if not (in_memory and live is not None):
                await outbox.close()
    except OutboxNotFound:
        return OutboxSummary("empty", f"empty (no outbox yet; {describe(outbox)})", max_pending_age)
    except NotAnOutbox as exc:
        return OutboxSummary("unreadable", str(exc), max_pending_age)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - the report must report, never crash
        return OutboxSummary("unreadable", f"unreachable ({type(exc).__name__})", max_pending_age)
    return OutboxSummary(
        "ok",
        describe(outbox),
        max_pending_age,
        pending=status.pending,
        in_flight=status.in_flight,
        dead=status.dead,
        oldest_pending_age=status.oldest_age,
        integrations=tuple(
            OutboxRow(b.integration, b.pending, b.in_flight, b.dead, b.delivered)
            for b in status.integrations
        ),
    )


def _secret_fields(section: Any, *, required_only: bool = False) -> list[tuple[str, object]]:
    """``(name, value)`` of every secret field of an attrs settings section."""
    return [
        (field.name, getattr(section, field.name))
        for field in attrs.fields(type(section))
        if field.metadata.get(SECRET) and (not required_only or field.default is attrs.NOTHING)
    ]


def development_secrets(settings: Settings) -> tuple[SecretIssue, ...]:
    """
    Secrets outside the ``fake`` environment that are a published development value, a
    placeholder, or what the vendor itself flags (a Stripe test-mode key in production). The
    issue names the setting; the value never leaves this function.
    """
    if settings.is_fake:
        return ()
    hooks = {spec.webhook.provider: spec.webhook for spec in settings.registry if spec.webhook}
    published = {value for hook in hooks.values() for value in hook.development.values()}
    issues = []
    for provider, section in sorted(settings.webhooks.providers.items()):
        for name, value in _secret_fields(section):
            why = _placeholder(value, published)
            if why is not None:
                issues.append(SecretIssue(provider, f"webhooks.{provider}.{name}", why))
    for spec in settings.registry:
        section = settings.vendors.get(spec.name)
        if section is None:
            continue
        for name, value in _secret_fields(section):
            why = _placeholder(value, published)
            if why is not None:
                issues.append(SecretIssue(spec.name, f"{spec.name}.{name}", why))
        if spec.audit is not None:
            issues.extend(
                SecretIssue(spec.name, f"{spec.name}.{name}", why)
                for name, why in spec.audit(section, settings.environment)
            )
    return tuple(issues)


def _placeholder(value: object, published: set[str]) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if value in published:
        return "a published development value, refused outside the fake environment"
    lowered = value.strip().lower()
    if lowered in _PLACEHOLDER_VALUES or any(word in lowered for word in _PLACEHOLDERS):
        return "looks like a placeholder or development value, not a real secret"
    return None
