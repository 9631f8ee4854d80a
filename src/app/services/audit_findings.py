"""
The audit report's judgement: findings from an `AuditState`, and the quality gate from them.

Severities map onto ``portico health``'s exit codes, whose meaning is unchanged: a *critical*
finding fails the gate with 1 (unhealthy), a *warning* with 2 (degraded), *info* never.
"""

from __future__ import annotations

from collections.abc import Sequence

from .audit_state import (
    EXIT_DEGRADED,
    EXIT_HEALTHY,
    EXIT_UNHEALTHY,
    SEVERITIES,
    SILENT_PROVIDER_AFTER,
    AuditState,
    Finding,
    OutboxSummary,
    QualityGate,
    WebhookCounts,
)


__all__ = ["decide_gate", "derive_findings", "duration", "time_left"]


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
                    f"forced open by an operator ({time_left(row.override_for)}): every call is "
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
                    f"({time_left(row.override_for)}): the breaker no longer protects the vendor; "
                    f"`portico breaker clear {name}` ends it",
                )
            )
        if row.probe is not None and row.probe != "ok":
            found.append(Finding("critical", "probe_failed", name, row.probe))
    return found


def time_left(seconds: float | None) -> str:
    """An operator override's time left, in words."""
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
    found: list[Finding] = []
    fake = state.environment == "fake"
    for row in state.webhooks:
        name = row.provider
        found.extend(
            Finding("info", "secret_unset", name, f"optional secret {setting} is not set")
            for setting in row.unset_secrets
        )
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
            if row.timestamp_tolerance is None or row.legacy is not None:
                unsigned = (
                    "its signature carries no timestamp"
                    if row.timestamp_tolerance is None
                    else f"it accepts {row.legacy}, which carry no timestamp"
                )
                found.append(
                    Finding(
                        "warning",
                        "no_replay_protection",
                        name,
                        f"{unsigned} and the replay store is {row.replay_kind}: after a restart "
                        "a captured delivery verifies and is processed again; use a persistent "
                        "replay store (sqlite or redis)",
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
            f"no delivery for {duration(counts.last_received_age)} (> "
            f"{duration(SILENT_PROVIDER_AFTER)}): is the provider still sending to this URL?"
        )
    return (
        f"no delivery in the {duration(counts.counting_for or 0.0)} the server has counted: "
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


def duration(seconds: float) -> str:
    """``seconds`` in the largest unit that fits: 45s, 12.0m, 3.5h, 7.0d."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
