"""
Webhook ingress: size check -> verify -> parse -> claim -> dispatch -> complete, and the answer.

The provider learns only what it needs to decide whether to retry: 2xx when processed or already
processed, 4xx when the delivery itself is wrong (retrying cannot help), 5xx when we failed (a
handler raised, another worker holds the event, the replay store is down) so that it retries.
Nothing a caller sees, and nothing logged, contains a traceback, a secret or patient data.

An event held by another worker (``ClaimOutcome.IN_FLIGHT``) is answered **503 with Retry-After**,
not 409: every provider retries a 5xx, while several treat a 4xx as final; if the other worker then
fails and releases its claim, the retry is what processes the event.

A handler failure is either transient (the default: the claim is released and the answer is 500,
so the provider retries) or permanent (`PermanentError` or `InvalidValue`, see
`app.services.webhook_failures`): retrying cannot help, so the event is completed, counted in
``handler_rejected``, logged at ERROR with its id and type, kept in `WebhookIngress.recent_failures`
(shown on ``/healthz/webhooks``) and answered ``200 {"received": true, "failed": true}``. With a
`FailedEventLog` (``failed_log``) it is first recorded there durably, delivery included, for
``portico webhooks replay``; if that record cannot be written the event is released and answered
500 instead, so the provider's retry brings it back rather than it being forgotten.

**The replay store's health.** Every failed store call is counted per provider
(``store_failures``) and remembered (`WebhookIngress.store_problem`); `WebhookIngress.check_store`
makes one real round trip (a claim of a reserved key, then its release), so ``/readyz`` and
``/healthz/webhooks`` say whether deliveries can be processed *now*, even before the first one.

**A completion that fails** (store full, Redis restarting), after the handlers ran. The invariant:
a handler's effects are applied at most once, and no event is lost. The completion is retried
briefly (`COMPLETE_ATTEMPTS`, pauses on the one `Clock`); if it still fails:

- the delivery is answered **2xx**: the event *was* handled, so nothing is lost, and a provider
  that retried would only make a second processing more likely;
- the claim is kept in this process (`WebhookIngress.uncompleted`, bounded) and its completion is
  tried again before each later delivery and on every store check; a redelivery of that event
  to this process is then a **duplicate** (completed now, or 503 while the store is still down),
  never a second run of the handlers.

Answering 5xx instead would bring the event back to a worker that cannot tell it was handled.
What remains: a process that dies holding such claims forgets them, and another worker may take
the event once the lease (``lease_seconds``) runs out; the handlers' own keys (commands derived
from the event's id) keep that second run from enqueueing anything new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

import attrs

from ...domain.correlation import correlated, for_event
from ...domain.errors import PayloadTooLarge, WebhookRejected
from ...domain.events import DomainEvent
from ...domain.failed_events import FailedEvent
from ...domain.replay import Claim
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import ClaimOutcome, WebhookRequest
from ...ports.failed_events import FailedEventLog
from ...ports.webhooks import ReplayStore
from .webhook_failures import (
    DEFAULT_RECENT_FAILURES,
    RecentFailures,
    failed_event,
    is_permanent,
)
from .webhook_values import (
    ProviderCounters,
    SubscriptionHandshake,
    ValidationHandshake,
    WebhookEndpoint,
    WebhookResponse,
)


__all__ = [
    "COMPLETE_ATTEMPTS",
    "DEFAULT_MAX_BODY",
    "ProviderCounters",
    "SubscriptionHandshake",
    "ValidationHandshake",
    "WebhookEndpoint",
    "WebhookIngress",
    "WebhookResponse",
]

DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB: far above any documented vendor payload
COMPLETE_ATTEMPTS = 3  # tries of a completion before its claim is kept for later
COMPLETE_PAUSES = (0.05, 0.25)  # seconds between those tries (at most 0.3 s in all)
MAX_UNCOMPLETED = 10_000  # handled-but-uncompleted claims kept; beyond, the oldest are dropped
READINESS_KEY = "portico:readiness"  # the key `check_store` claims and releases
_COMPLETE_SCHEDULE = (*COMPLETE_PAUSES, None)  # the pause after each try (None: the last)
logger = logging.getLogger("portico.webhooks")

EventT = TypeVar("EventT", bound=DomainEvent)
_AnyHandler = Callable[[Any], Awaitable[None]]

_POST_ONLY = WebhookResponse(
    405, {"received": False, "error": "deliveries are POSTed"}, (("allow", "POST"),)
)


class _Outcome(Enum):
    """What became of one event of a delivery."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in_flight"
    FAILED = "failed"
    REJECTED = "rejected"
    STORE_DOWN = "store_down"


def _reason_key(error: WebhookRejected) -> str:
    """``InvalidSignature`` -> ``invalid_signature``: a bounded set of counter names."""
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _copy_endpoints(endpoints: Mapping[str, WebhookEndpoint]) -> dict[str, WebhookEndpoint]:
    return dict(endpoints)


def handler_name_of(handler: Callable[..., object]) -> str:
    """A handler's name for logs and failure records (its qualified name)."""
    return str(getattr(handler, "__qualname__", type(handler).__qualname__))


@attrs.define
class WebhookIngress:
    """
    Receives every provider's deliveries and turns them into domain events for the host's handlers.

    Args:
        endpoints: verifier and parser per provider name (the ``{provider}`` of the URL).
        replay_store: remembers processed events; the key is ``"{provider}:{event_id}"``.
        max_body: larger bodies are refused with 413 before anything else looks at them.
        lease_seconds: how long a claim lasts before a crashed worker's event is retried.
        retry_after: seconds suggested to the provider when another worker holds the event.
        public_base_url: the scheme and host the providers call (behind a proxy it differs from
            what the server sees); signed URLs are rebuilt from it.
        recent_failures_limit: how many permanent handler failures `recent_failures` keeps.
        failed_log: where permanent failures are recorded durably, with their delivery (None:
            only `recent_failures`, lost on restart).
        clock: the time source; `Clock.now` stamps the failure records.
    """

    endpoints: dict[str, WebhookEndpoint] = attrs.field(converter=_copy_endpoints)
    replay_store: ReplayStore
    max_body: int = DEFAULT_MAX_BODY
    lease_seconds: float = 120.0
    retry_after: int = 5
    public_base_url: str | None = None
    recent_failures_limit: int = DEFAULT_RECENT_FAILURES
    failed_log: FailedEventLog | None = None
    clock: Clock = SYSTEM_CLOCK
    unknown_provider: int = attrs.field(default=0, init=False)
    store_problem: str | None = attrs.field(default=None, init=False)
    _uncompleted: dict[str, Claim] = attrs.field(factory=dict, init=False)
    _handlers: dict[type[DomainEvent], list[_AnyHandler]] = attrs.field(factory=dict, init=False)
    # handlers_for's answers, per event class; emptied by `on`.
    _routes: dict[type[DomainEvent], tuple[_AnyHandler, ...]] = attrs.field(
        factory=dict, init=False
    )
    _counters: dict[str, ProviderCounters] = attrs.field(init=False)
    _failures: RecentFailures = attrs.field(init=False)
    _started: float = attrs.field(init=False)

    @_started.default
    def _start(self) -> float:
        return self.clock.monotonic()

    @_counters.default
    def _make_counters(self) -> dict[str, ProviderCounters]:
        return {name: ProviderCounters() for name in self.endpoints}

    @_failures.default
    def _make_failures(self) -> RecentFailures:
        return RecentFailures(self.recent_failures_limit, clock=self.clock)

    @property
    def recent_failures(self) -> RecentFailures:
        """The latest events a handler refused for good (permanent errors), newest first."""
        return self._failures

    @property
    def providers(self) -> tuple[str, ...]:
        """The provider names this ingress accepts, sorted."""
        return tuple(sorted(self.endpoints))

    def handlers_for(self, event_type: type[DomainEvent]) -> tuple[_AnyHandler, ...]:
        """The handlers an event of ``event_type`` runs through, in order (base classes' too)."""
        found = self._routes.get(event_type)
        if found is None:
            found = tuple(h for cls in event_type.__mro__ for h in self._handlers.get(cls, ()))
            self._routes[event_type] = found
        return found

    def on(self, event_type: type[EventT], handler: Callable[[EventT], Awaitable[None]]) -> None:
        """
        Call ``handler`` for every processed event of ``event_type`` (or a subclass).

        Several handlers per type run in registration order; if one raises, the event is released
        and the provider is told to retry, so handlers must be idempotent per ``event_id``. A
        handler that raises `PermanentError` or `InvalidValue` ends the event for good instead: it
        is completed, counted as ``handler_rejected`` and listed in `recent_failures`.
        """
        self._handlers.setdefault(event_type, []).append(handler)
        self._routes.clear()

    @property
    def uncompleted(self) -> tuple[str, ...]:
        """Keys handled but not yet marked complete (the store failed), oldest first."""
        return tuple(self._uncompleted)

    async def check_store(self) -> str | None:
        """
        One round trip to the replay store (claim then release a reserved key, and the pending
        completions): None when it works, else why not (an exception's type name, nothing more).
        """
        try:
            claim = await self.replay_store.claim(READINESS_KEY, lease_seconds=5.0)
            if claim.outcome is ClaimOutcome.CLAIMED:
                await self.replay_store.release(claim)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
            self.store_problem = f"replay store unavailable ({type(exc).__name__})"
            return self.store_problem
        self.store_problem = None
        await self._flush_uncompleted()
        return None

    def counters(self, provider: str) -> ProviderCounters:
        """The live counters of one provider (KeyError-free: unknown names get zeros)."""
        return self._counters.get(provider, ProviderCounters())

    def snapshot(self) -> dict[str, dict[str, object]]:
        """
        Every provider's counters, JSON-ready, with ``last_received_age_seconds`` (None: no
        delivery yet) and ``counting_for_seconds`` (how long this ingress has counted), so the
        audit report can tell a provider that went quiet.
        """
        now = self.clock.monotonic()
        counting = round(max(now - self._started, 0.0), 3)
        return {
            name: {**self._counters[name].snapshot(now), "counting_for_seconds": counting}
            for name in self.providers
        }

    async def handle(self, provider: str, request: WebhookRequest) -> WebhookResponse:
        """Process one delivery and decide the answer. Never raises (except on cancellation)."""
        try:
            return await self._handle(provider, request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback escapes
            return self._internal_error(provider, "delivery", exc)

    async def handshake(self, provider: str, request: WebhookRequest) -> WebhookResponse:
        """Answer a GET subscription check (Meta): the challenge as plain text, or a refusal."""
        endpoint = self.endpoints.get(provider)
        if endpoint is None:
            return self._unknown_provider()
        verifier = endpoint.verifier
        if not isinstance(verifier, SubscriptionHandshake):
            return _POST_ONLY
        try:
            challenge = verifier.handshake(request)
        except WebhookRejected as exc:
            return self.refuse(provider, exc)
        except Exception as exc:  # noqa: BLE001 - a verifier bug must not leak a traceback
            return self._internal_error(provider, "handshake", exc)
        logger.info("webhook %s: subscription handshake accepted", provider)
        return WebhookResponse(200, challenge)

    def refuse(self, provider: str, error: WebhookRejected) -> WebhookResponse:
        """Count and answer a rejected delivery (also used by transports that refuse early)."""
        counters = self._counters.get(provider)
        if counters is not None:
            counters.rejected[_reason_key(error)] += 1
        logger.warning(
            "webhook %s: rejected (%s, %d): %s",
            provider if counters is not None else "<unknown>",
            type(error).__name__,
            error.status_code,
            error.reason,
        )
        return WebhookResponse(error.status_code, {"received": False, "error": error.reason})

    async def _handle(self, provider: str, request: WebhookRequest) -> WebhookResponse:
        endpoint = self.endpoints.get(provider)
        if endpoint is None:
            return self._unknown_provider()
        counters = self._counters[provider]
        counters.received += 1
        counters.last_received = self.clock.monotonic()
        if request.method != "POST":
            counters.rejected["method_not_allowed"] += 1
            return _POST_ONLY
        if len(request.body) > self.max_body:
            too_large = PayloadTooLarge(
                f"body is over the {self.max_body}-byte limit", integration=provider
            )
            return self.refuse(provider, too_large)
        try:
            validation = endpoint.validation
            token = None if validation is None else validation(request)
            if token is not None:
                # Answered before any I/O: Graph allows 10 s for the echo.
                logger.info("webhook %s: endpoint validation answered", provider)
                return WebhookResponse(200, token)
            endpoint.verifier.verify(request)
            delivery = endpoint.parser.parse(request)
        except WebhookRejected as exc:
            return self.refuse(provider, exc)
        if delivery.unknown_types:
            counters.unknown_types += len(delivery.unknown_types)
            logger.info(
                "webhook %s: acknowledged %d event(s) of unhandled type(s) %s",
                provider,
                len(delivery.unknown_types),
                sorted({t[:80] for t in delivery.unknown_types}),
            )
        outcomes: list[_Outcome] = []
        for event in delivery.events:
            outcomes.append(await self._process(provider, event, request, counters))
        event_types = tuple([type(e).__name__ for e in delivery.events])
        return self._decide(outcomes, len(delivery.unknown_types), endpoint, event_types)

    async def _process(
        self,
        provider: str,
        event: DomainEvent,
        request: WebhookRequest,
        counters: ProviderCounters,
    ) -> _Outcome:
        key = f"{provider}:{event.event_id}"
        held = self._uncompleted.get(key)
        if held is not None:
            # Handled before, its completion failed: complete it now, never run it again.
            if await self._try_complete(held):
                del self._uncompleted[key]
                counters.duplicates += 1
                return _Outcome.DUPLICATE
            self._store_failed(provider, "complete", counters)
            return _Outcome.STORE_DOWN
        try:
            claim = await self.replay_store.claim(key, lease_seconds=self.lease_seconds)
        except Exception as exc:  # noqa: BLE001 - any store failure means "try again later"
            self._store_failed(provider, f"claim ({type(exc).__name__})", counters)
            return _Outcome.STORE_DOWN
        if self.store_problem is not None:  # (an attrs field: skip its setter when unchanged)
            self.store_problem = None
        if self._uncompleted:
            await self._flush_uncompleted()
        if claim.outcome is ClaimOutcome.DUPLICATE:
            counters.duplicates += 1
            return _Outcome.DUPLICATE
        if claim.outcome is ClaimOutcome.IN_FLIGHT:
            counters.in_flight += 1
            return _Outcome.IN_FLIGHT
        handler: _AnyHandler | None = None
        try:
            with correlated(for_event(provider, event.event_id)):
                for handler in self.handlers_for(type(event)):
                    await handler(event)
        except asyncio.CancelledError:
            await self._release(provider, claim, counters)
            raise
        except Exception as exc:  # noqa: BLE001 - a failed handler means "retry", never a crash
            handler_name = "" if handler is None else handler_name_of(handler)
            if is_permanent(exc):
                at = self.clock.now().timestamp()
                failure = failed_event(provider, event, request, handler_name, exc, at)
                if not await self._record(failure):
                    counters.handler_failures += 1
                    await self._release(provider, claim, counters)
                    return _Outcome.FAILED
                return await self._reject(provider, event, claim, handler_name, exc, counters)
            counters.handler_failures += 1
            # The exception's message may quote patient data: its type names the failure.
            logger.error(
                "webhook %s: handler %s failed on %s %s (%s); released for the provider's retry",
                provider,
                handler_name,
                type(event).__name__,
                event.event_id,
                type(exc).__name__,
            )
            await self._release(provider, claim, counters)
            return _Outcome.FAILED
        await self._complete(provider, event, claim, counters)
        counters.processed += 1
        return _Outcome.PROCESSED

    async def _reject(
        self,
        provider: str,
        event: DomainEvent,
        claim: Claim,
        handler_name: str,
        exc: Exception,
        counters: ProviderCounters,
    ) -> _Outcome:
        """A permanent handler failure: complete, count, log and remember it; no retry."""
        counters.handler_rejected += 1
        self._failures.record(
            provider, event.event_id, type(event).__name__, handler_name, type(exc).__name__
        )
        logger.error(
            "webhook %s: handler %s refused %s %s for good (%s); completed, not retried",
            provider,
            handler_name,
            type(event).__name__,
            event.event_id,
            type(exc).__name__,
        )
        await self._complete(provider, event, claim, counters)
        return _Outcome.REJECTED

    async def _record(self, failure: FailedEvent) -> bool:
        """Write the failure to the durable log (if any); False when that failed."""
        if self.failed_log is None:
            return True
        try:
            await self.failed_log.record(failure)
        except Exception as exc:  # noqa: BLE001 - not recorded: the provider must retry instead
            logger.error(
                "webhook %s: could not record the permanent failure of %s (%s); released for "
                "the provider's retry",
                failure.provider,
                failure.event_id,
                type(exc).__name__,
            )
            return False
        return True

    async def _complete(
        self, provider: str, event: DomainEvent, claim: Claim, counters: ProviderCounters
    ) -> None:
        """
        Mark a handled event complete, retrying briefly; if the store still fails, keep the
        claim for later (see the module docstring): the event is not run again here.
        """
        for pause in _COMPLETE_SCHEDULE:
            if await self._try_complete(claim):
                return
            counters.store_failures += 1
            if pause is not None:
                await self.clock.sleep(pause)
        self.store_problem = "replay store unavailable (complete)"
        logger.error(
            "webhook %s: %s handled but not marked complete after %d tries; kept to complete "
            "later (a redelivery here is a duplicate)",
            provider,
            event.event_id,
            COMPLETE_ATTEMPTS,
        )
        self._uncompleted[claim.key] = claim
        while len(self._uncompleted) > MAX_UNCOMPLETED:
            dropped = next(iter(self._uncompleted))
            del self._uncompleted[dropped]
            logger.error("webhook: too many uncompleted claims; forgot the oldest (%s)", dropped)

    async def _try_complete(self, claim: Claim) -> bool:
        try:
            await self.replay_store.complete(claim)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the caller counts and decides
            return False
        return True

    async def _flush_uncompleted(self) -> None:
        """Complete the claims kept after failed completions, oldest first, until one fails."""
        for key, claim in list(self._uncompleted.items()):
            if not await self._try_complete(claim):
                return
            del self._uncompleted[key]
            logger.info("webhook: %s marked complete after all", key)

    def _store_failed(self, provider: str, what: str, counters: ProviderCounters) -> None:
        counters.store_failures += 1
        self.store_problem = f"replay store unavailable ({what})"
        logger.error("webhook %s: replay store unavailable: %s", provider, what)

    async def _release(self, provider: str, claim: Claim, counters: ProviderCounters) -> None:
        """Give an event back for a retry; on a store failure the claim's lease expires instead."""
        try:
            await self.replay_store.release(claim)
        except Exception as exc:  # noqa: BLE001 - the claim's lease expires instead
            counters.store_failures += 1
            logger.error("webhook %s: could not release a claim (%s)", provider, type(exc).__name__)

    def _decide(
        self,
        outcomes: list[_Outcome],
        unknown: int,
        endpoint: WebhookEndpoint,
        event_types: tuple[str, ...],
    ) -> WebhookResponse:
        """
        The answer to a delivery whose events ended in ``outcomes`` (``unknown``: unhandled).

        It tells the provider only whether to retry: 5xx when any event must come back (a
        handler failed, the replay store is down, another worker holds it; with Retry-After
        where it helps), 2xx otherwise (the endpoint's ``accepted_status``), with counts of
        what was processed, already processed or of an unhandled type.
        """
        if _Outcome.FAILED in outcomes:
            body: dict[str, object] = {"received": False, "error": "a handler failed; retry"}
            return WebhookResponse(500, body, event_types=event_types)
        if _Outcome.STORE_DOWN in outcomes or _Outcome.IN_FLIGHT in outcomes:
            retry = (("retry-after", str(self.retry_after)),)
            if _Outcome.STORE_DOWN in outcomes:
                body = {"received": False, "error": "temporarily unavailable; retry"}
            else:
                body = {"received": False, "in_flight": True, "error": "being processed; retry"}
            return WebhookResponse(503, body, retry, event_types)
        if _Outcome.REJECTED in outcomes:
            body = {"received": True, "failed": True}
        elif outcomes and all(o is _Outcome.DUPLICATE for o in outcomes):
            body = {"received": True, "duplicate": True}
        else:
            body = {
                "received": True,
                "processed": outcomes.count(_Outcome.PROCESSED),
                "duplicates": outcomes.count(_Outcome.DUPLICATE),
            }
            if unknown:
                body["unknown_types"] = unknown
        return WebhookResponse(endpoint.accepted_status, body, event_types=event_types)

    def _unknown_provider(self) -> WebhookResponse:
        self.unknown_provider += 1
        return WebhookResponse(404, {"received": False, "error": "unknown webhook provider"})

    def _internal_error(self, provider: str, stage: str, exc: Exception) -> WebhookResponse:
        counters = self._counters.get(provider)
        if counters is not None:
            counters.rejected["internal_error"] += 1
        logger.error(
            "webhook %s: internal error in %s (%s)",
            provider if counters is not None else "<unknown>",
            stage,
            type(exc).__name__,
        )
        return WebhookResponse(500, {"received": False, "error": "internal error; retry"})
