"""
Leases sized from the resilience pipelines they wait on: `Pipeline.worst_case_seconds`.

A lease (a relay's claim on an outbox entry, a per-sender intake claim, a webhook event claim)
must outlast the work it guards, or a second worker takes the key over while the first is still
talking to the vendor, which is the very race the claim exists to stop. The work is a few pipeline
calls, and a pipeline call is bounded by its configuration (see `Pipeline.worst_case_seconds`).
So leases are derived from the configured pipelines, never guessed, and follow any change to them:

- the relay's ``outbox.lease_seconds`` is refused unless it exceeds every port's worst case
  (`check_relay_lease`; with the default policies that is 72 s, under the 120 s default lease);
- within a claim, the relay sends a later command of a recipient's run only while the lease has
  room for one more call at its worst (`relay_send_bound`);
- intake's claim is computed (`intake_lease`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ...adapters.resilience import Pipeline
from ..services.lead_intake import INTAKE_CRM_CALLS


__all__ = ["check_relay_lease", "intake_lease", "pipelines_of", "relay_send_bound"]

log = logging.getLogger("portico.outbox.relay")

# A pipeline without a timeout has no bound; for a lease that must be computed anyway, this stands
# in for one attempt (httpx's default read timeout is far below it).
UNBOUNDED_ATTEMPT = 60.0
MARGIN = 10.0  # seconds for the work between calls (local writes, a slow event loop)


def pipelines_of(ports: Iterable[object]) -> list[Pipeline]:
    """The pipelines of the resilient ``ports`` (those with a ``pipeline``); others have none."""
    found = (getattr(port, "pipeline", None) for port in ports)
    return [pipeline for pipeline in found if isinstance(pipeline, Pipeline)]


def check_relay_lease(lease_seconds: float, pipelines: Iterable[Pipeline]) -> None:
    """
    Refuse a relay lease that a call through one of ``pipelines`` could outlast.

    A lease that ends while its relay is still sending lets a second relay claim the entry with
    ``lease_expired`` and dead-letter it as "maybe sent" (or send it again). A pipeline without
    a per-attempt timeout has no worst case: a warning is logged instead.

    Raises:
        ValueError: names ``outbox.lease_seconds``, the integration and its worst case.
    """
    for pipeline in pipelines:
        worst = pipeline.worst_case_seconds()
        if worst is None:
            log.warning(
                "outbox: %s has no per-attempt timeout; a %gs lease may expire mid-send",
                pipeline.integration,
                lease_seconds,
            )
        elif lease_seconds <= worst:
            raise ValueError(
                f"outbox.lease_seconds ({lease_seconds:g}s) must exceed the {pipeline.integration} "
                f"pipeline's worst case of {worst:g}s (retry_deadline + one attempt, or every "
                "attempt and backoff without a deadline); raise it or shorten that integration's "
                "resilience settings"
            )


def relay_send_bound(pipelines: Iterable[Pipeline]) -> float:
    """
    Seconds the lease must still have left before the relay sends a later command of a run
    (`OutboxRelay`'s ``send_bound``): the slowest of ``pipelines``' worst cases (one without a
    timeout counted as `UNBOUNDED_ATTEMPT` per attempt) plus `MARGIN`; 0 without pipelines.
    """
    worst = [p.worst_case_seconds(untimed_attempt=UNBOUNDED_ATTEMPT) for p in pipelines]
    return max(worst) + MARGIN if worst else 0.0


def intake_lease(crm_pipeline: Pipeline, *, calls: int = INTAKE_CRM_CALLS) -> float:
    """
    The per-sender intake claim's lease: ``calls`` CRM calls at their worst, plus a margin.

    The webhook ingress's event lease guards the same work (intake runs inside the handler of a
    ``MessageReceived``), so it must be at least this long too.
    """
    return calls * crm_pipeline.worst_case_seconds(untimed_attempt=UNBOUNDED_ATTEMPT) + MARGIN
