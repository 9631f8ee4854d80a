"""
The operators' actions from the console, each recorded in the `OperatorActionLog`: requeue a dead
letter (never a "maybe sent" one unless forced, as ``portico outbox requeue``), replay or resolve a
failed webhook event (as ``portico webhooks``), force a breaker open or closed for a while or
release it (as ``portico breaker``, through the same breaker-control store every process reads).

Whatever happens, the action is recorded with who asked, when, the target and a result safe to
show (ids, counts, outcome and error type names: never a payload or an error's message). A store
that fails is recorded as a failed action and reported, never raised at the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection

import attrs

from ...domain.breaker_control import OverrideMode
from ...domain.operator_actions import OperatorAction
from ...domain.time import SYSTEM_CLOCK, Clock
from ...ports.breaker_control import BreakerControlStore
from ...ports.failed_events import FailedEventLog
from ...ports.operator_actions import OperatorActionLog
from ...ports.outbox import Outbox
from .outbox_requeue import MAYBE_SENT_WHY, requeue_one
from .webhook_ingress import WebhookIngress
from .webhook_replay import replay_failed


__all__ = ["MAX_OVERRIDE_SECONDS", "OperatorActions"]

logger = logging.getLogger("portico.console")
MAX_OVERRIDE_SECONDS = 7 * 86400.0  # a console override always ends; a week at most
_FORCE_MODES: dict[str, OverrideMode] = {"open": "open", "closed": "closed"}


@attrs.define
class OperatorActions:
    """
    The console's use cases. Every method returns the recorded `OperatorAction`.

    Args:
        log: where actions are recorded.
        outbox: for requeues.
        ingress: for replays (its failed-event log is the one replayed and resolved).
        breaker_store: the operators' breaker overrides.
        integrations: the breakers that may be overridden (the configured integrations).
        clock: stamps the records and the overrides' end.
    """

    log: OperatorActionLog
    outbox: Outbox | None
    ingress: WebhookIngress | None
    breaker_store: BreakerControlStore | None
    integrations: Collection[str] = ()
    clock: Clock = SYSTEM_CLOCK

    async def requeue(self, who: str, entry_id: str, *, force: bool = False) -> OperatorAction:
        """Make one dead letter pending again (a "maybe sent" one only with ``force``)."""
        outbox = self.outbox

        async def work() -> tuple[bool, str]:
            if outbox is None:
                return False, "no outbox configured"
            n = await requeue_one(outbox, entry_id, force=force)
            if n is None:
                return False, f"not requeued: {MAYBE_SENT_WHY}; check with the vendor, then force"
            return (True, "requeued") if n else (False, "no such dead letter")

        return await self._do(who, "requeue (forced)" if force else "requeue", entry_id, work)

    async def replay(self, who: str, event_id: str) -> OperatorAction:
        """Run one failed webhook event through the handlers again."""
        ingress = self.ingress

        async def work() -> tuple[bool, str]:
            if ingress is None or ingress.failed_log is None:
                return False, "no failed-event log"
            result = await replay_failed(ingress, ingress.failed_log, event_id)
            detail = f" ({result.detail})" if result.detail else ""
            return result.ok, f"{result.outcome.value}{detail}"

        return await self._do(who, "replay", event_id, work)

    async def resolve(self, who: str, event_id: str) -> OperatorAction:
        """Mark one failed webhook event handled by hand."""
        log = self._failed_log()

        async def work() -> tuple[bool, str]:
            if log is None:
                return False, "no failed-event log"
            if await log.resolve(event_id):
                return True, "resolved"
            found = await log.get(event_id)
            return False, "already resolved" if found is not None else "no such record"

        return await self._do(who, "resolve", event_id, work)

    async def force_breaker(
        self, who: str, integration: str, mode: str, seconds: float
    ) -> OperatorAction:
        """Force ``integration``'s breaker ``mode`` (open or closed) for ``seconds``."""
        store = self.breaker_store

        async def work() -> tuple[bool, str]:
            problem = self._breaker_problem(integration)
            if problem or store is None:
                return False, problem or "no breaker-control store"
            if mode not in _FORCE_MODES:
                return False, "mode must be open or closed"
            if not 0 < seconds <= MAX_OVERRIDE_SECONDS:
                return False, f"duration must be above 0 and at most {MAX_OVERRIDE_SECONDS:g}s"
            until = self.clock.now().timestamp() + seconds
            store.set(integration, _FORCE_MODES[mode], until)
            return True, f"forced {mode} for {seconds:g}s"

        return await self._do(who, f"breaker {mode}", integration, work)

    async def release_breaker(self, who: str, integration: str) -> OperatorAction:
        """End ``integration``'s override: the breaker judges calls by itself again."""
        store = self.breaker_store

        async def work() -> tuple[bool, str]:
            problem = self._breaker_problem(integration)
            if problem or store is None:
                return False, problem or "no breaker-control store"
            store.clear(integration)
            return True, "released"

        return await self._do(who, "breaker release", integration, work)

    async def session(self, who: str, action: str) -> OperatorAction:
        """Record a login or logout (who came and went is part of the trail)."""

        async def work() -> tuple[bool, str]:
            return True, "ok"

        return await self._do(who, action, "console", work)

    def _failed_log(self) -> FailedEventLog | None:
        return None if self.ingress is None else self.ingress.failed_log

    def _breaker_problem(self, integration: str) -> str:
        if integration not in self.integrations:
            return f"unknown integration (known: {', '.join(sorted(self.integrations))})"
        return ""

    async def _do(
        self, who: str, action: str, target: str, work: Callable[[], Awaitable[tuple[bool, str]]]
    ) -> OperatorAction:
        try:
            ok, result = await work()
        except Exception as exc:  # noqa: BLE001 - the page reports it; the log names the type
            logger.error("console: %s %s failed (%s)", action, target[:80], type(exc).__name__)
            ok, result = False, f"failed: {type(exc).__name__}"
        record = OperatorAction(
            at=self.clock.now().timestamp(),
            operator=who,
            action=action,
            target=target,
            ok=ok,
            result=result,
        )
        await self.log.record(record)
        logger.info("console: %s %s %s by %s: %s", action, target[:80], ok, who, result)
        return record
