"""
What the audit report is made of: its rows, its findings and gate, and the state an `AuditSource`
reads from the live system (``app.wiring.audit``). Plain records with their JSON form; the
judging lives in `app.services.audit_findings`, the report in `app.services.audit_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

import attrs


__all__ = [
    "EXIT_DEGRADED",
    "EXIT_HEALTHY",
    "EXIT_UNHEALTHY",
    "SEVERITIES",
    "SILENT_PROVIDER_AFTER",
    "AuditSource",
    "AuditState",
    "ClientRow",
    "Finding",
    "OutboxRow",
    "OutboxSummary",
    "QualityGate",
    "ResilienceRow",
    "SecretIssue",
    "Severity",
    "WebhookCounts",
    "WebhookHealthLike",
    "WebhookRow",
]

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_DEGRADED = 0, 1, 2
# A provider that sent nothing for this long, while the server counted, is worth a look.
SILENT_PROVIDER_AFTER = 24 * 3600.0


def _severity(value: str) -> Severity:
    for known in SEVERITIES:
        if value == known:
            return known
    msg = f"severity must be one of {', '.join(SEVERITIES)}"
    raise ValueError(msg)


@attrs.frozen
class Finding:
    """
    One concrete problem the report found.

    Attributes:
        severity: "critical", "warning" or "info".
        code: a stable slug a monitor can match on (``circuit_open``, ``dead_letters``...).
        subject: the integration or webhook provider concerned (``outbox``, ``server`` for those).
        message: plain text for the operator; masked, never a secret.
    """

    severity: Severity = attrs.field(converter=_severity)
    code: str
    subject: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The finding as a JSON object."""
        return {
            "severity": self.severity,
            "code": self.code,
            "subject": self.subject,
            "message": self.message,
        }


@attrs.frozen
class QualityGate:
    """PASSED or FAILED, the rule that decided it, and ``portico health``'s exit code to match."""

    status: Literal["PASSED", "FAILED"]
    rule: str
    exit_code: int

    def to_json(self) -> dict[str, object]:
        """The gate as a JSON object."""
        return {"status": self.status, "rule": self.rule, "exit_code": self.exit_code}


@attrs.frozen
class ClientRow:
    """
    One integration's client status in this process.

    Attributes:
        integration: the breaker's name (the vendor: ``stripe``, ``hubspot``...).
        circuit: the state's name (CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, FORCED_CLOSED, DISABLED).
        retry_in: seconds until an OPEN circuit lets a probe through (0 otherwise).
        failures: failed calls seen; rejections: calls the breaker refused.
        last_success_age: seconds since the last success, None if never.
        override_for: seconds an operator override has left (inf: until cleared), None: none.
        probe: None when not probed, "ok", or why the probe failed (``--probe``).
        shared: the circuit shared through Redis, in a few words (``open by host:pid 3s ago``),
            None when the integration does not share its breaker.
        shared_detail: the same as a JSON-ready mapping (state, tripped_by, opened_ago,
            retry_in, redis).
    """

    integration: str
    circuit: str
    retry_in: float
    failures: int
    rejections: int
    last_success_age: float | None
    override_for: float | None = None
    probe: str | None = None
    shared: str | None = None
    shared_detail: Mapping[str, object] | None = None

    def to_json(self) -> dict[str, object]:
        """The row as a JSON object (infinite override: null with ``until_cleared``)."""
        endless = self.override_for is not None and self.override_for == float("inf")
        return {
            "integration": self.integration,
            "circuit": self.circuit,
            "retry_in_seconds": round(self.retry_in, 3),
            "failures": self.failures,
            "rejections": self.rejections,
            "last_success_age_seconds": _rounded(self.last_success_age),
            "override_seconds_left": None if endless else _rounded(self.override_for),
            "override_until_cleared": endless,
            "probe": self.probe,
            "shared_circuit": None if self.shared_detail is None else dict(self.shared_detail),
        }


@attrs.frozen
class ResilienceRow:
    """One integration's resilience configuration (its vendor's default, overridden)."""

    integration: str
    retry_max: int | None
    backoff: str
    failure_threshold: int
    reset_timeout: float
    rate: float | None
    burst: int | None
    rate_limit: str  # where the quota is kept: "local", or the shared limiter's status line

    def to_json(self) -> dict[str, object]:
        """The row as a JSON object."""
        return {
            "integration": self.integration,
            "retry_max": self.retry_max,
            "backoff": self.backoff,
            "failure_threshold": self.failure_threshold,
            "reset_timeout_seconds": self.reset_timeout,
            "rate_per_second": self.rate,
            "burst": self.burst,
            "rate_limit": self.rate_limit,
        }


@attrs.frozen
class WebhookCounts:
    """
    A provider's counters in the serving process (``/healthz/webhooks`` read by ``--server``,
    or the ingress in this process); ``rejected`` is the total over every reason.
    """

    provider: str
    received: int
    processed: int
    duplicates: int
    rejected: int
    unknown_types: int
    handler_failures: int
    store_failures: int
    last_received_age: float | None = None  # seconds since the last delivery, None if none
    counting_for: float | None = None  # seconds the server has been counting, None if unknown

    def to_json(self) -> dict[str, object]:
        """The counts as a JSON object."""
        return {
            "received": self.received,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "unknown_types": self.unknown_types,
            "handler_failures": self.handler_failures,
            "store_failures": self.store_failures,
            "last_received_age_seconds": _rounded(self.last_received_age),
            "counting_for_seconds": _rounded(self.counting_for),
        }


@attrs.frozen
class WebhookRow:
    """
    One webhook provider's security, from its verifier and the configuration.

    Attributes:
        provider: the URL segment (``stripe``, ``hubspot``...).
        scheme: what the verifier checks, e.g. Stripe's ``t=,v1=`` HMAC-SHA256.
        secret_configured: whether every secret the verifier needs is set (never the value).
        unset_secrets: optional secret settings left unset (Meta's ``verify_token``: the
            subscription handshake is then refused).
        timestamp_tolerance: seconds a signed timestamp may be off; None when the scheme signs
            no timestamp (a captured delivery then verifies forever: only the replay store
            stops it).
        replay_kind: memory, sqlite or redis; replay_retention: seconds a processed delivery
            answers "duplicate"; replay_persistent: whether it survives a restart.
        public_base_url: the scheme and host the provider calls, when configured.
        legacy: legacy schemes accepted (HubSpot v1/v2), None when none.
        legacy_cost: what accepting them costs.
        counts: the serving process's counters, None when unknown.
    """

    provider: str
    scheme: str
    secret_configured: bool
    timestamp_tolerance: float | None
    replay_kind: str
    replay_retention: float | None
    replay_persistent: bool
    public_base_url: str | None
    legacy: str | None = None
    legacy_cost: str | None = None
    counts: WebhookCounts | None = None
    unset_secrets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The row as a JSON object (``secret_configured`` is a yes/no, never the secret)."""
        return {
            "provider": self.provider,
            "scheme": self.scheme,
            "secret_configured": self.secret_configured,
            "unset_secrets": list(self.unset_secrets),
            "timestamp_tolerance_seconds": self.timestamp_tolerance,
            "replay_store": {
                "kind": self.replay_kind,
                "retention_seconds": self.replay_retention,
                "persistent": self.replay_persistent,
            },
            "public_base_url": self.public_base_url,
            "legacy_schemes": self.legacy,
            "legacy_cost": self.legacy_cost,
            "counters": None if self.counts is None else self.counts.to_json(),
        }


@attrs.frozen
class OutboxRow:
    """One integration's commands in the outbox."""

    integration: str
    pending: int
    in_flight: int
    dead: int
    delivered: int


@attrs.frozen
class OutboxSummary:
    """
    The outbox: ``state`` "ok" (read), "empty" (no outbox yet) or "unreadable" (``detail`` says
    why); counts only, never a payload.
    """

    state: Literal["ok", "empty", "unreadable"]
    detail: str
    max_pending_age: float
    pending: int = 0
    in_flight: int = 0
    dead: int = 0
    oldest_pending_age: float | None = None
    integrations: tuple[OutboxRow, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The summary as a JSON object."""
        return {
            "state": self.state,
            "detail": self.detail,
            "pending": self.pending,
            "in_flight": self.in_flight,
            "dead": self.dead,
            "oldest_pending_age_seconds": _rounded(self.oldest_pending_age),
            "max_pending_age_seconds": self.max_pending_age,
            "integrations": {
                row.integration: {
                    "pending": row.pending,
                    "in_flight": row.in_flight,
                    "dead": row.dead,
                    "delivered": row.delivered,
                }
                for row in self.integrations
            },
        }


@attrs.frozen
class SecretIssue:
    """A secret setting that must not be used where it is: which one and why (never its value)."""

    subject: str  # the integration or provider
    setting: str  # the setting's dotted name, e.g. ``webhooks.stripe.secret``
    why: str


@attrs.frozen
class AuditState:
    """
    What the `AuditSource` read from the live system and the configuration; the report's input.

    Attributes:
        environment: fake, sandbox or production.
        workers: processes sharing the stores (``resilience.shared.expected_workers``).
        probed: whether the clients were probed just before.
        clients, resilience, webhooks, outbox: the report's sections, as read.
        secrets: development or placeholder secrets found outside the ``fake`` environment.
        problems: findings the source made itself (a verifier that refuses its secrets).
    """

    environment: str
    workers: int
    probed: bool
    clients: tuple[ClientRow, ...]
    resilience: tuple[ResilienceRow, ...]
    webhooks: tuple[WebhookRow, ...]
    outbox: OutboxSummary
    generated_at: datetime
    secrets: tuple[SecretIssue, ...] = ()
    problems: tuple[Finding, ...] = ()


class WebhookHealthLike(Protocol):
    """The serving process's counters and verdict (``webhook_counters.WebhookHealth``)."""

    @property
    def rows(self) -> Sequence[WebhookCounts]:
        """One row per provider."""
        ...

    @property
    def problems(self) -> Sequence[str]:
        """Why the server cannot take deliveries; empty when it can."""
        ...


class AuditSource(Protocol):
    """Reads the live state for the report (``app.wiring.audit.ContainerAuditSource``)."""

    async def gather(self, *, probe: bool, max_pending_age: float | None) -> AuditState:
        """
        The state now; with ``probe``, after one cheap authenticated read per enabled port.
        Never raises for a store or a vendor that cannot be read: that is in the state.
        """
        ...


def _rounded(value: float | None) -> float | None:
    if value is None or value == float("inf"):
        return None
    return round(value, 3)
