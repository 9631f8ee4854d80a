"""
The full Integrations Audit Report: client status, resilience, webhook security, findings, gate.

`build_audit_report` asks the container's `AuditSource` (``app.wiring.audit``, the one place
that reads breakers, rate limits, operator overrides, the outbox, the webhook verifiers and the
probes) for the live state (`AuditState`, records in ``audit_state``), judges it
(``audit_findings``: every finding with its severity, and the quality gate with the rule that
decided it) and returns the `AuditReport`. The same report renders as Markdown or text
(`render_audit_markdown`, `render_audit_text`: ``portico health``), as JSON
(`AuditReport.to_json`: ``portico health --format json``) and in the web console. The records
it is built from live in ``audit_state``.

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
from typing import Protocol

import attrs

from .audit_findings import decide_gate, derive_findings, duration, time_left
from .audit_state import (
    AuditSource,
    AuditState,
    ClientRow,
    Finding,
    OutboxSummary,
    QualityGate,
    ResilienceRow,
    WebhookCounts,
    WebhookHealthLike,
    WebhookRow,
)
from .report_table import ReportFormat, render_table


__all__ = [
    "AuditReport",
    "build_audit_report",
    "render_audit_markdown",
    "render_audit_text",
    "report_from_state",
]


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
            attrs.evolve(row, counts=by_provider[row.provider])
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
        f"environment {report.environment}: quality gate {gate.status} (exit {gate.exit_code}).\n",
        _client_table(report.clients, fmt),
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
    parts.append(
        render_table(
            "Quality gate",
            ("Status", "Exit code", "Rule"),
            [(gate.status, str(gate.exit_code), gate.rule)],
            fmt=fmt,
        )
    )
    return "\n".join(parts)


def _client_table(rows: Sequence[ClientRow], fmt: ReportFormat) -> str:
    """Client status; a "Shared circuit" column when an integration shares its breaker."""
    headers: tuple[str, ...] = ("Integration", "Circuit", "Failures", "Last success", "Probe")
    cells = [_client_cells(row) for row in rows]
    if any(row.shared is not None for row in rows):
        headers = (*headers, "Shared circuit")
        cells = [(*line, row.shared or "-") for line, row in zip(cells, rows, strict=True)]
    return render_table("Client status", headers, cells, fmt=fmt)


def _client_cells(row: ClientRow) -> tuple[str, ...]:
    circuit = row.circuit
    if circuit == "OPEN":
        circuit = f"OPEN (probe in {row.retry_in:.0f}s)"
    elif row.override_for is not None:
        circuit = f"{circuit} ({time_left(row.override_for)})"
    return (
        row.integration,
        circuit,
        f"{row.failures} ({row.rejections} rejected)",
        "never" if row.last_success_age is None else f"{duration(row.last_success_age)} ago",
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
    retention = "" if row.replay_retention is None else f", {duration(row.replay_retention)}"
    persistence = "" if row.replay_persistent else ", lost on restart"
    legacy = "none" if row.legacy is None else f"{row.legacy}: see Issues found"
    return (
        row.provider,
        row.scheme,
        ("configured" if row.secret_configured else "MISSING")
        + "".join(f"; {name} not set" for name in row.unset_secrets),
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
        "never" if last is None else f"{duration(last)} ago",
    )


def _outbox_section(outbox: OutboxSummary, fmt: ReportFormat) -> str:
    if outbox.state != "ok":
        return f"outbox: {outbox.detail}\n"
    age = outbox.oldest_pending_age
    line = (
        f"outbox: {outbox.pending} pending ({outbox.in_flight} in flight), {outbox.dead} dead, "
        f"oldest {'-' if age is None else duration(age)}"
        f" (limit {duration(outbox.max_pending_age)})\n"
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
