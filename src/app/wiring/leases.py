"""
Claim leases sized from the resilience pipelines they wait on.

A lease (a per-sender intake claim, a webhook event claim) must outlast the work it guards, or a
second worker takes the key over while the first is still talking to the vendor, which is the
very race the claim exists to stop. The work is a few pipeline calls, and a pipeline call is
bounded by its configuration: waits end before the retry deadline, after which one last attempt
may still queue for a bulkhead slot and a rate-limit token and run to its timeout. So the lease
is computed from the configured pipeline, never guessed, and follows any change to it.
"""

from __future__ import annotations

from ...adapters.resilience import Pipeline
from ..services.lead_intake import INTAKE_CRM_CALLS


__all__ = ["intake_lease", "worst_call_seconds"]

# A pipeline without a timeout has no bound; this stands in for one attempt (httpx's default
# read timeout is far below it).
UNBOUNDED_ATTEMPT = 60.0
MARGIN = 10.0  # seconds for the work between calls (local writes, a slow event loop)


def worst_call_seconds(pipeline: Pipeline) -> float:
    """
    The longest one call through ``pipeline`` can take, retries and queueing included.

    With a retry deadline: every wait ends before it, then one last attempt. Without one: every
    attempt plus the largest backoff before each retry.
    """
    attempt = pipeline.timeout.seconds if pipeline.timeout is not None else UNBOUNDED_ATTEMPT
    if pipeline.bulkhead is not None:
        attempt += pipeline.bulkhead.max_wait
    if pipeline.limiter is not None:
        attempt += pipeline.limiter.max_wait
    retry = pipeline.retry
    if retry is None or retry.attempts == 1:
        return attempt
    if retry.deadline is not None:
        return retry.deadline + attempt
    waits = sum(
        min(retry.max_delay, retry.base_delay * retry.multiplier ** (n - 1))
        for n in range(1, retry.attempts)
    )
    return retry.attempts * attempt + waits


def intake_lease(crm_pipeline: Pipeline, *, calls: int = INTAKE_CRM_CALLS) -> float:
    """
    The per-sender intake claim's lease: ``calls`` CRM calls at their worst, plus a margin.

    The webhook ingress's event lease guards the same work (intake runs inside the handler of a
    ``MessageReceived``), so it must be at least this long too.
    """
    return calls * worst_call_seconds(crm_pipeline) + MARGIN
