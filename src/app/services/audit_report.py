"""
The full Integrations Audit Report: client status, resilience, webhook security, findings, gate.

`build_audit_report` asks the container's `AuditSource` (``app.wiring.audit``, the one place
that reads breakers, rate limits, operator overrides, the outbox, the webhook verifiers and the
probes) for the live state, then derives the report from it here: every finding with its
severity, and the quality gate with the rule that decided it. The same `AuditReport` renders as
Markdown or text (`render_audit_markdown`, `render_audit_text`: ``portico health``), as JSON
(`AuditReport.to_json`: ``portico health --format json``) and in the web console.

Severities map onto ``portico health``'s exit codes (`EXIT_HEALTHY`, `EXIT_UNHEALTHY`,
`EXIT_DEGRADED`), whose meaning is unchanged: a *critical* finding (an open circuit, a failed
probe, an unreadable outbox or server, a secret that must not be there) fails the gate with 1; a
*warning* (dead letters, a command pending too long, a weakness of the configuration) fails it
with 2, degraded; *info* findings never fail it.

Nothing here prints a secret: the source reports whether a secret is configured and which
setting looks like a development value, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

import attrs

from ...adapters.report import ReportFormat, render_table


__all__ = [
    "EXIT_DEGRADED",
    "EXIT_HEALTHY",
    "EXIT_UNHEALTHY",
    "SEVERITIES",
    "SILENT_PROVIDER_AFTER",
    "AuditReport",
    "AuditSource",
    "AuditState",
    "ClientRow",
    "CounterRow",
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
    "build_audit_report",
    "decide_gate",
    "derive_findings",
    "render_audit_markdown",
    "render_audit_text",
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
    """

    integration: str
    circuit: str
    retry_in: float
    failures: int
    rejections: int
    last_success_age: float | None
    override_for: float | None = None
    probe: str | None = None

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
    """A provider's counters in the serving process (when ``--server`` or in-process)."""

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

    def to_json(self) -> dict[str, object]:
        """The row as a JSON object (``secret_configured`` is a yes/no, never the secret)."""
        return {
            "provider": self.provider,
            "scheme": self.scheme,
            "secret_configured": self.secret_configured,
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


class CounterRow(Protocol):
    """One provider's counters as ``app.entrypoints.webhook_counters.ProviderRow`` has them."""

    @property
    def provider(self) -> str:
        """The provider."""
        ...

    @property
    def received(self) -> int:
        """Deliveries received."""
        ...

    @property
    def processed(self) -> int:
        """Deliveries processed."""
        ...

    @property
    def duplicates(self) -> int:
        """Deliveries answered as duplicates."""
        ...

    @property
    def rejected(self) -> int:
        """Deliveries refused (every reason)."""
        ...

    @property
    def unknown_types(self) -> int:
        """Deliveries of a type nobody handles."""
        ...

    @property
    def handler_failures(self) -> int:
        """Handler failures."""
        ...

    @property
    def store_failures(self) -> int:
        """Replay-store calls that failed."""
        ...

    @property
    def last_received_age(self) -> float | None:
        """Seconds since the last delivery when it was read, None if none yet."""
        ...

    @property
    def counting_for(self) -> float | None:
        """Seconds the server had been counting when it was read, None if unknown."""
        ...


class WebhookHealthLike(Protocol):
    """The serving process's counters and verdict (``webhook_counters.WebhookHealth``)."""

    @property
    def rows(self) -> Sequence[CounterRow]:
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


class _HasAuditSource(Protocol):
    def audit_source(self) -> AuditSource: ...


@attrs.frozen
class AuditReport:
    """The whole report; `to_json` is ``portico health --format json``."""

    generated_at: datetime
    environment: str
    probed: bool
    clients: tuple[ClientRow, ...]
    resilience: tuple[ResilienceRow, ...]
    webhooks: tuple[WebhookRow, ...]
    outbox: OutboxSummary
    findings: tuple[Finding, ...]
    gate: QualityGate
    counters_known: bool = False

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict with exactly these keys: generated_at, gate, clients, resilience,
        webhooks, outbox, findings."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "gate": self.gate.to_json(),
            "clients": [row.to_json() for row in self.clients],
            "resilience": [row.to_json() for row in self.resilience],
            "webhooks": [row.to_json() for row in self.webhooks],
            "outbox": self.outbox.to_json(),
            "findings": [finding.to_json() for finding in self.findings],
        }


async def build_audit_report(
    container: _HasAuditSource,
    *,
    probe: bool = False,
    webhook_health: WebhookHealthLike | None = None,
    max_pending_age: float | None = None,
) -> AuditReport:
    """
    The report for ``container``'s integrations, now.

    Args:
        container: Portico's container (its ``audit_source`` provider reads the state).
        probe: first make one cheap authenticated read per enabled port (``portico health
            --probe``); without it the circuits are this process's view only.
        webhook_health: the serving process's counters and verdict (``fetch_webhook_health``
            from a running server, or ``WebhookHealth.of(ingress)`` in that process); None:
            counters unknown, so no finding depends on them.
        max_pending_age: seconds a pending command may wait before it is a finding (None:
            ``DEFAULT_MAX_PENDING_AGE``, 15 minutes).
    """
    state = await container.audit_source().gather(probe=probe, max_pending_age=max_pending_age)
    return report_from_state(state, webhook_health)


def report_from_state(state: AuditState, webhook_health: WebhookHealthLike | None) -> AuditReport:
    """The report for a gathered ``state`` and, when known, the server's counters."""
    webhooks = state.webhooks
    server_problems: tuple[str, ...] = ()
    if webhook_health is not None:
        by_provider = {row.provider: row for row in webhook_health.rows}
        webhooks = tuple(
            attrs.evolve(row, counts=_counts(by_provider[row.provider]))
            if row.provider in by_provider
            else row
            for row in webhooks
        )
        server_problems = tuple(webhook_health.problems)
    state = attrs.evolve(
        state,
        webhooks=webhooks,
        problems=(
            *state.problems,
            *(Finding("critical", "server_unhealthy", "server", p) for p in server_problems),
        ),
    )
    findings = derive_findings(state)
    return AuditReport(
        generated_at=state.generated_at,
        environment=state.environment,
        probed=state.probed,
        clients=state.clients,
        resilience=state.resilience,
        webhooks=webhooks,
        outbox=state.outbox,
        findings=findings,
        gate=decide_gate(findings),
        counters_known=webhook_health is not None,
    )


def _counts(row: CounterRow) -> WebhookCounts:
    return WebhookCounts(
        received=row.received,
        processed=row.processed,
        duplicates=row.duplicates,
        rejected=row.rejected,
        unknown_types=row.unknown_types,
        handler_failures=row.handler_failures,
        store_failures=row.store_failures,
        last_received_age=row.last_received_age,
        counting_for=row.counting_for,
    )


# ----------------------------------------------------------------------------- findings


def derive_findings(state: AuditState) -> tuple[Finding, ...]:
    """Every finding of ``state``, most severe first (then by subject and code)."""
    found = [
        *_client_findings(state),
        *_outbox_findings(state.outbox),
        *_webhook_findings(state),
        *(
            Finding(
                "critical", "development_secret", issue.subject, f"{issue.setting}: {issue.why}"
            )
            for issue in state.secrets
        ),
        *state.problems,
    ]
    rank = {severity: n for n, severity in enumerate(SEVERITIES)}
    return tuple(sorted(found, key=lambda f: (rank[f.severity], f.subject, f.code)))


def _client_findings(state: AuditState) -> list[Finding]:
    found = []
    for row in state.clients:
        name = row.integration
        if row.circuit == "OPEN":
            found.append(
                Finding(
                    "critical",
                    "circuit_open",
                    name,
                    f"circuit open after {row.failures} failure(s); calls are refused, the next "
                    f"probe in {row.retry_in:.0f}s",
                )
            )
        elif row.circuit == "FORCED_OPEN":
            found.append(
                Finding(
                    "critical",
                    "breaker_forced",
                    name,
                    f"forced open by an operator ({_left(row.override_for)}): every call is "
                    f"refused; `portico breaker clear {name}` ends it",
                )
            )
        elif row.circuit in ("FORCED_CLOSED", "DISABLED"):
            found.append(
                Finding(
                    "warning",
                    "breaker_forced",
                    name,
                    f"{row.circuit.lower().replace('_', ' ')} by an operator "
                    f"({_left(row.override_for)}): the breaker no longer protects the vendor; "
                    f"`portico breaker clear {name}` ends it",
                )
            )
        if row.probe is not None and row.probe != "ok":
            found.append(Finding("critical", "probe_failed", name, row.probe))
    return found


def _left(seconds: float | None) -> str:
    if seconds is None or seconds == float("inf"):
        return "until cleared"
    return f"{seconds:.0f}s left"


def _outbox_findings(outbox: OutboxSummary) -> list[Finding]:
    if outbox.state == "unreadable":
        return [Finding("critical", "outbox_unreadable", "outbox", outbox.detail)]
    found = []
    for row in outbox.integrations:
        if row.dead:
            found.append(
                Finding(
                    "warning",
                    "dead_letters",
                    row.integration,
                    f"{row.dead} dead letter(s): see `portico outbox dead`, then requeue or purge",
                )
            )
    age = outbox.oldest_pending_age
    if age is not None and age > outbox.max_pending_age:
        found.append(
            Finding(
                "warning",
                "pending_too_old",
                "outbox",
                f"oldest pending command waited {age:.0f}s (> {outbox.max_pending_age:.0f}s): "
                "is a relay running (`portico serve` or `portico relay`)?",
            )
        )
    return found


def _webhook_findings(state: AuditState) -> list[Finding]:
    found = []
    fake = state.environment == "fake"
    for row in state.webhooks:
        name = row.provider
        if not row.secret_configured:
            found.append(Finding("critical", "secret_missing", name, "served without its secret"))
        if not fake and not row.replay_persistent:
            if state.workers > 1:
                found.append(
                    Finding(
                        "critical",
                        "replay_store_not_persistent",
                        name,
                        f"replay store is {row.replay_kind} with {state.workers} workers: each "
                        "worker remembers only its own deliveries, so a redelivery reaching "
                        "another worker is processed twice; use sqlite or redis",
                    )
                )
            if row.timestamp_tolerance is None:
                found.append(
                    Finding(
                        "warning",
                        "no_replay_protection",
                        name,
                        f"its signature carries no timestamp and the replay store is "
                        f"{row.replay_kind}: after a restart a captured delivery verifies and "
                        "is processed again; use a persistent replay store (sqlite or redis)",
                    )
                )
        if row.legacy is not None:
            found.append(
                Finding(
                    "info",
                    "legacy_signatures",
                    name,
                    f"accepts {row.legacy}: {row.legacy_cost or 'no timestamp'}",
                )
            )
        counts = row.counts
        if counts is not None and _silent(counts):
            found.append(
                Finding(
                    "warning",
                    "provider_silent",
                    name,
                    _silence(counts),
                )
            )
    return found


def _silent(counts: WebhookCounts) -> bool:
    if counts.last_received_age is not None:
        return counts.last_received_age > SILENT_PROVIDER_AFTER
    return counts.counting_for is not None and counts.counting_for > SILENT_PROVIDER_AFTER


def _silence(counts: WebhookCounts) -> str:
    if counts.last_received_age is not None:
        return (
            f"no delivery for {_duration(counts.last_received_age)} (> "
            f"{_duration(SILENT_PROVIDER_AFTER)}): is the provider still sending to this URL?"
        )
    return (
        f"no delivery in the {_duration(counts.counting_for or 0.0)} the server has counted: "
        "is the provider configured to send to this URL?"
    )


# ----------------------------------------------------------------------------- the gate


def decide_gate(findings: Sequence[Finding]) -> QualityGate:
    """FAILED with 1 on any critical finding, FAILED with 2 on any warning, else PASSED with 0."""
    critical = [f for f in findings if f.severity == "critical"]
    if critical:
        return QualityGate(
            "FAILED",
            f"{len(critical)} critical finding(s) ({_codes(critical)}): unhealthy, exit 1",
            EXIT_UNHEALTHY,
        )
    warnings = [f for f in findings if f.severity == "warning"]
    if warnings:
        return QualityGate(
            "FAILED",
            f"no critical finding, {len(warnings)} warning(s) ({_codes(warnings)}): "
            "degraded, exit 2",
            EXIT_DEGRADED,
        )
    return QualityGate("PASSED", "no critical or warning finding: healthy, exit 0", EXIT_HEALTHY)


def _codes(findings: Sequence[Finding]) -> str:
    seen: dict[str, None] = {}
    for finding in findings:
        seen.setdefault(f"{finding.code}: {finding.subject}", None)
    return ", ".join(seen)


# ----------------------------------------------------------------------------- rendering


def render_audit_markdown(report: AuditReport) -> str:
    """The report as Markdown (``portico health``)."""
    return _render(report, "markdown")


def render_audit_text(report: AuditReport) -> str:
    """The report as aligned plain text (``portico health --format text``)."""
    return _render(report, "text")


def _render(report: AuditReport, fmt: ReportFormat) -> str:
    heading = "# Integrations Audit Report" if fmt == "markdown" else "INTEGRATIONS AUDIT REPORT"
    gate = report.gate
    parts = [
        f"{heading}\n\nGenerated {report.generated_at.isoformat(timespec='seconds')}, "
        f"environment {report.environment}.\n\n"
        f"Quality gate: {gate.status} (exit {gate.exit_code}): {gate.rule}\n",
        render_table(
            "Client status",
            ("Integration", "Circuit", "Failures", "Last success", "Probe"),
            [_client_cells(row) for row in report.clients],
            fmt=fmt,
        ),
    ]
    if not report.probed:
        parts.append(
            "circuits: this process's view, no call made yet; add --probe to try each vendor now\n"
        )
    parts.append(
        render_table(
            "Resilience configuration",
            ("Integration", "Retry max", "Backoff", "Circuit threshold", "Rate limit"),
            [_resilience_cells(row) for row in report.resilience],
            fmt=fmt,
        )
    )
    parts.append(
        render_table(
            "Webhook security",
            (
                "Provider",
                "Signature verified",
                "Secret",
                "Timestamp tolerance",
                "Replay store",
                "Public base URL",
                "Legacy schemes",
            ),
            [_webhook_cells(row) for row in report.webhooks],
            fmt=fmt,
        )
    )
    counted = [row for row in report.webhooks if row.counts is not None]
    if counted:
        parts.append(
            render_table(
                "Webhook ingress",
                (
                    "Provider",
                    "Received",
                    "Processed",
                    "Duplicates",
                    "Rejected",
                    "Unknown types",
                    "Handler failures",
                    "Store failures",
                    "Last delivery",
                ),
                [_counter_cells(row.provider, row.counts) for row in counted if row.counts],
                fmt=fmt,
            )
        )
    elif not report.counters_known:
        parts.append(
            "webhooks: counters live in the serving process; see them with "
            "`portico health --server http://127.0.0.1:8000` (GET /healthz/webhooks)\n"
        )
    parts.append(_outbox_section(report.outbox, fmt))
    parts.append(
        render_table(
            "Issues found",
            ("Severity", "Code", "Subject", "Finding"),
            [(f.severity.upper(), f.code, f.subject, f.message) for f in report.findings]
            or [("-", "-", "-", "none")],
            fmt=fmt,
        )
    )
    return "\n".join(parts)


def _client_cells(row: ClientRow) -> tuple[str, ...]:
    circuit = row.circuit
    if circuit == "OPEN":
        circuit = f"OPEN (probe in {row.retry_in:.0f}s)"
    elif row.override_for is not None:
        circuit = f"{circuit} ({_left(row.override_for)})"
    return (
        row.integration,
        circuit,
        f"{row.failures} ({row.rejections} rejected)",
        "never" if row.last_success_age is None else f"{_duration(row.last_success_age)} ago",
        row.probe or "-",
    )


def _resilience_cells(row: ResilienceRow) -> tuple[str, ...]:
    return (
        row.integration,
        "-" if row.retry_max is None else str(row.retry_max),
        row.backoff,
        f"{row.failure_threshold} / {row.reset_timeout:g}s",
        row.rate_limit,
    )


def _webhook_cells(row: WebhookRow) -> tuple[str, ...]:
    retention = "" if row.replay_retention is None else f", {_duration(row.replay_retention)}"
    persistence = "" if row.replay_persistent else ", lost on restart"
    legacy = "none" if row.legacy is None else f"{row.legacy} ({row.legacy_cost})"
    return (
        row.provider,
        row.scheme,
        "configured" if row.secret_configured else "MISSING",
        "none (no timestamp signed)"
        if row.timestamp_tolerance is None
        else f"{row.timestamp_tolerance:g}s",
        f"{row.replay_kind}{retention}{persistence}",
        row.public_base_url or "- (the request's own URL)",
        legacy,
    )


def _counter_cells(provider: str, counts: WebhookCounts) -> tuple[str, ...]:
    last = counts.last_received_age
    numbers = (
        counts.received,
        counts.processed,
        counts.duplicates,
        counts.rejected,
        counts.unknown_types,
        counts.handler_failures,
        counts.store_failures,
    )
    return (
        provider,
        *(str(n) for n in numbers),
        "never" if last is None else f"{_duration(last)} ago",
    )


def _outbox_section(outbox: OutboxSummary, fmt: ReportFormat) -> str:
    if outbox.state != "ok":
        return f"outbox: {outbox.detail}\n"
    age = outbox.oldest_pending_age
    line = (
        f"outbox: {outbox.pending} pending ({outbox.in_flight} in flight), {outbox.dead} dead, "
        f"oldest {'-' if age is None else _duration(age)}"
        f" (limit {_duration(outbox.max_pending_age)})\n"
    )
    if not outbox.integrations:
        return line
    table = render_table(
        "Outbox",
        ("Integration", "Pending", "In flight", "Dead", "Delivered"),
        [
            (r.integration, str(r.pending), str(r.in_flight), str(r.dead), str(r.delivered))
            for r in outbox.integrations
        ],
        fmt=fmt,
    )
    return f"{table}\n{line}"


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _rounded(value: float | None) -> float | None:
    if value is None or value == float("inf"):
        return None
    return round(value, 3)
