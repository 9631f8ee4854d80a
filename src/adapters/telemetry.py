"""
OpenTelemetry for Portico: one tracer, one meter, their instruments, and what may be an attribute.

Portico depends on ``opentelemetry-api`` only. Until the host installs and configures the SDK the
API is a no-op, but even a no-op span costs microseconds (measured on CPython 3.11: a no-op
``start_as_current_span`` ~6 us, a no-op counter ~0.12 us, against a whole pipeline call of
~1.6 us). So the instrumented paths run only while `Telemetry.active` says a real tracer or meter
provider is installed, and a host that uses nothing pays one attribute read and one countdown per
port call (``bench/overhead.py`` measures it).

Noticing an SDK installed after the container was built: every check counts down
`Telemetry.countdown`; once per `RECHECK_CALLS` checks `Telemetry.recheck` reads the clock, and at
most once per `RECHECK_SECONDS` it asks the API for the global providers again. So a late SDK is
seen within `RECHECK_SECONDS` and then at most `RECHECK_CALLS` checks (on a quiet host those calls
go untraced; `Telemetry.refresh` after installing the SDK sees it at once, and a container's
`lifespan` calls it when the host starts Portico). Rejected: the clock on
every check (a Python frame and a clock read, a third of an open breaker's rejection); a hook on
``set_tracer_provider`` (the API has none for traces: it would mean wrapping private functions,
and a provider named by ``OTEL_PYTHON_TRACER_PROVIDER`` is only set when someone asks for it); a
background thread or task (lost across ``fork``, and a library should not start one unasked).

Where telemetry is emitted, and only there:
- the resilience pipeline, one span per port call (``messaging.send``, ``payments.create_intent``)
  with retries, rate-limit waits and breaker rejections as span events, and the call metrics;
- `VendorClient`, one child span per HTTP attempt (OpenTelemetry's HTTP client conventions);
- the webhook ASGI app, one span per delivery, with the ingress's verdicts (`IngressTelemetry`);
- the outbox relay's delivery, linked to the trace that enqueued the command (`OutboxDeliverySpans`;
  the outbox stores that trace context with the command, `current_trace_context`).

Attributes carry names, codes, counts and states, never a value a caller passed in: no phone
number, email, name, body, token or id that embeds one. URLs become templates (`url_template`):
no query string and no path segment that looks like an id.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import (
    Link,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    TracerProvider,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..domain.correlation import correlation_id
from ..domain.errors import (
    IntegrationError,
    LocalRejection,
    OutcomeUnknown,
    PermanentError,
    RetryExhaustedError,
)
from ..domain.outbox import OutboxEntry
from ..domain.time import SYSTEM_CLOCK, Clock
from ..ports.outbox import DeliveryObserver, DeliveryRecord


__all__ = [
    "RECHECK_CALLS",
    "RECHECK_SECONDS",
    "TELEMETRY",
    "LogContext",
    "OutboxDeliverySpans",
    "Telemetry",
    "current_trace_context",
    "link_to",
    "observe_outbox",
    "outcome_of",
    "url_template",
]

SCOPE = "portico"
RECHECK_SECONDS = 5.0
RECHECK_CALLS = 16
# Metric names (OpenTelemetry's conventions: dotted lower case, UCUM units, bounded attributes).
CALLS = "portico.calls"
CALL_DURATION = "portico.call.duration"
RETRIES = "portico.retries"
RATE_LIMIT_WAIT = "portico.rate_limit.wait"
BREAKER_TRANSITIONS = "portico.breaker.transitions"
BREAKER_STATE = "portico.breaker.state"
WEBHOOK_DELIVERIES = "portico.webhook.deliveries"
WEBHOOK_DUPLICATES = "portico.webhook.duplicates"
OUTBOX_PENDING = "portico.outbox.pending"
OUTBOX_IN_FLIGHT = "portico.outbox.in_flight"
OUTBOX_DEAD = "portico.outbox.dead"
OUTBOX_OLDEST_AGE = "portico.outbox.oldest_pending.age"
# The breaker's states as gauge values (the gauge has no string values).
BREAKER_STATE_VALUES: Final[Mapping[str, int]] = {
    "closed": 0,
    "half_open": 1,
    "open": 2,
    "forced_open": 3,
    "forced_closed": 4,
    "disabled": 5,
}

_ID_SEGMENT = re.compile(r"(?=[^/]*\d)[^/]{6,}|\d+")  # a segment with digits, or all digits
_VERSION = re.compile(r"v\d+(\.\d+)*|\d{4}-\d{2}-\d{2}")  # v3, v21.0, 2010-04-01: kept
_SUFFIX = re.compile(r"\.(json|xml)$")


def url_template(path: str) -> str:
    """
    The path as a template: id-like segments become ``{id}``, the query is dropped.

    >>> url_template("/2010-04-01/Accounts/AC0123/Messages/SMabc123def.json?x=1")
    '/2010-04-01/Accounts/{id}/Messages/{id}.json'
    """
    out = []
    for segment in path.split("?", 1)[0].split("/"):
        suffix = _SUFFIX.search(segment)
        stem = segment[: suffix.start()] if suffix else segment
        if stem and not _VERSION.fullmatch(stem) and _ID_SEGMENT.fullmatch(stem):
            segment = "{id}" + (suffix.group(0) if suffix else "")
        out.append(segment)
    return "/".join(out)


def outcome_of(error: BaseException | None) -> str:
    """A call's outcome as a bounded label: success, rejected, unknown, permanent, transient."""
    if error is None:
        return "success"
    if isinstance(error, LocalRejection):
        return "rejected"
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    if isinstance(error, PermanentError):
        return "permanent"
    if isinstance(error, (RetryExhaustedError, IntegrationError)):
        return "transient"
    return "error"


def error_attributes(error: BaseException) -> dict[str, Any]:
    """``error.type`` and, for a vendor's error, its code and status (never its message)."""
    attributes: dict[str, Any] = {"error.type": type(error).__name__}
    cause = error.last_error if isinstance(error, RetryExhaustedError) else error
    if isinstance(cause, IntegrationError):
        if cause.vendor_code:
            attributes["portico.vendor_code"] = cause.vendor_code[:64]
        if cause.status_code is not None:
            attributes["http.response.status_code"] = cause.status_code
    return attributes


def _real(provider: object, *dummies: type) -> bool:
    return not isinstance(provider, dummies)


class Telemetry:
    """
    The tracer, the meter and Portico's instruments, switched on only when an SDK is installed.

    Args:
        tracer_provider, meter_provider: explicit providers (a test's in-memory exporters);
            None follows OpenTelemetry's global providers, looked at again at most every
            `RECHECK_SECONDS` (by the first check once `RECHECK_CALLS` checks have passed), so
            a host that configures the SDK after building the container is still seen.
        clock: the clock `recheck` reads.

    Attributes:
        active: a real tracer or meter provider was installed at the last look; what a hot path
            reads after counting down `countdown` (`Pipeline.call` does both inline).
        countdown: checks left before `recheck`.
    """

    # Slots: `Pipeline.call` reads and writes `countdown` on every port call.
    __slots__ = (
        "_due",
        "_fixed_meter",
        "_fixed_tracer",
        "_meter_provider",
        "_metering",
        "_tracing",
        "active",
        "calls",
        "clock",
        "countdown",
        "deliveries",
        "duplicates",
        "duration",
        "meter",
        "rate_wait",
        "retries",
        "tracer",
        "transitions",
    )

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._fixed_tracer = tracer_provider
        self._fixed_meter = meter_provider
        self.clock = clock
        self.countdown = 0
        self.active = False
        self._due = 0.0
        self._tracing = False
        self._metering = False
        self.tracer: trace.Tracer = trace.NoOpTracer()
        self._bind_meter(metrics.NoOpMeterProvider())

    def configure(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """Use these providers from now on (None: back to the global ones)."""
        self._fixed_tracer = tracer_provider
        self._fixed_meter = meter_provider
        self.refresh()

    @property
    def tracing(self) -> bool:
        """True while a real tracer provider is installed (one check: see `countdown`)."""
        self._check()
        return self._tracing

    @property
    def metering(self) -> bool:
        """True while a real meter provider is installed (one check: see `countdown`)."""
        self._check()
        return self._metering

    @property
    def observing(self) -> bool:
        """Tracing or metering (one check: see `countdown`)."""
        self._check()
        return self.active

    def _check(self) -> None:
        # Pipeline.call inlines these four lines (a call would cost a frame per port call).
        if self.countdown:
            self.countdown -= 1
        else:
            self.recheck()

    def recheck(self) -> None:
        """`countdown` ran out: look at the providers again if `RECHECK_SECONDS` have passed."""
        self.countdown = RECHECK_CALLS
        if self.clock.monotonic() >= self._due:
            self.refresh()

    def refresh(self) -> None:
        """
        Look at the providers now: a host that installs the SDK after building the container
        may call it to be seen at once instead of within `RECHECK_SECONDS`.
        """
        self._due = self.clock.monotonic() + RECHECK_SECONDS
        tracer_provider = self._fixed_tracer or trace.get_tracer_provider()
        self._tracing = _real(tracer_provider, ProxyTracerProvider, NoOpTracerProvider)
        if self._tracing:
            self.tracer = tracer_provider.get_tracer(SCOPE)
        meter_provider = self._fixed_meter or metrics.get_meter_provider()
        metering = _real(meter_provider, NoOpMeterProvider) and not _proxy(meter_provider)
        if metering and (not self._metering or meter_provider is not self._meter_provider):
            self._bind_meter(meter_provider)
        self._metering = metering
        self.active = self._tracing or metering

    def _bind_meter(self, provider: MeterProvider) -> None:
        self._meter_provider = provider
        meter = provider.get_meter(SCOPE)
        self.calls = meter.create_counter(CALLS, unit="{call}", description="Port calls")
        self.duration = meter.create_histogram(
            CALL_DURATION, unit="s", description="Port call duration, retries included"
        )
        self.retries = meter.create_counter(RETRIES, unit="{retry}", description="Retries")
        self.rate_wait = meter.create_histogram(
            RATE_LIMIT_WAIT, unit="s", description="Time spent waiting for a rate-limit token"
        )
        self.transitions = meter.create_counter(
            BREAKER_TRANSITIONS, unit="{transition}", description="Circuit breaker transitions"
        )
        self.deliveries = meter.create_counter(
            WEBHOOK_DELIVERIES, unit="{delivery}", description="Webhook deliveries by verdict"
        )
        self.duplicates = meter.create_counter(
            WEBHOOK_DUPLICATES, unit="{event}", description="Webhook events seen before"
        )
        self.meter = meter

    # ------------------------------------------------------------------ spans

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, Any], *, kind: trace.SpanKind
    ) -> Iterator[Span | None]:
        """A current span while tracing (None otherwise); the caller sets its outcome."""
        if not self.tracing:
            yield None
            return
        with self.tracer.start_as_current_span(
            name, kind=kind, attributes=dict(attributes), record_exception=False
        ) as span:
            yield span

    def on_transition(self, integration: str) -> Any:
        """A breaker listener counting its transitions (and a span event on the current span)."""

        def listener(old: Any, new: Any, reason: str) -> None:
            if self.metering:
                self.transitions.add(
                    1, {"portico.integration": integration, "from": old.value, "to": new.value}
                )
            if self.tracing:
                current = trace.get_current_span()
                if current.is_recording():
                    current.add_event(
                        "breaker.transition",
                        {"from": old.value, "to": new.value, "portico.reason": reason[:120]},
                    )

        return listener

    def observe_breakers(self, rows: Any) -> None:
        """Register the breaker-state gauge over ``rows()`` (the registry's snapshot)."""
        if not self.metering:
            return

        def callback(_options: Any) -> Sequence[metrics.Observation]:
            return [
                metrics.Observation(
                    BREAKER_STATE_VALUES.get(row.stats.state.value, -1),
                    {"portico.integration": row.stats.name},
                )
                for row in rows()
            ]

        self.meter.create_observable_gauge(
            BREAKER_STATE,
            callbacks=[callback],
            unit="1",
            description="Breaker state: 0 closed, 1 half-open, 2 open, 3 forced open, "
            "4 forced closed, 5 disabled",
        )


class LogContext(logging.Filter):
    """
    A handler filter adding ``trace_id``, ``span_id`` (hex, "-" outside a span) and
    ``correlation_id`` ("-" outside a delivery) to every record, so a host's log pipeline can join
    logs to traces: ``handler.addFilter(LogContext())`` and ``%(trace_id)s`` in the format.
    ``portico serve`` installs it on its own handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = format(context.trace_id, "032x") if context.is_valid else "-"
        record.span_id = format(context.span_id, "016x") if context.is_valid else "-"
        record.correlation_id = correlation_id() or "-"
        return True


def observe_outbox(telemetry: Telemetry, status: Any) -> None:
    """
    Register the outbox gauges over ``status()`` (the latest `OutboxStatus` or None): pending,
    in flight, dead and the oldest pending command's age, per integration. The webhook app
    refreshes that status on each ``/metrics`` scrape, since reading the store is async.
    """
    if not telemetry.metering:
        return

    def gauge(read: Any) -> Any:
        def callback(_options: Any) -> Sequence[metrics.Observation]:
            current = status()
            if current is None:
                return []
            return [
                metrics.Observation(value, {"portico.integration": backlog.integration})
                for backlog in current.integrations
                if (value := read(backlog, current.now)) is not None
            ]

        return callback

    meter = telemetry.meter
    meter.create_observable_gauge(
        OUTBOX_PENDING, [gauge(lambda b, _now: b.pending)], unit="{command}"
    )
    meter.create_observable_gauge(
        OUTBOX_IN_FLIGHT, [gauge(lambda b, _now: b.in_flight)], unit="{command}"
    )
    meter.create_observable_gauge(OUTBOX_DEAD, [gauge(lambda b, _now: b.dead)], unit="{command}")
    meter.create_observable_gauge(
        OUTBOX_OLDEST_AGE,
        [
            gauge(
                lambda b, now: (
                    None if b.oldest_pending_at is None else max(now - b.oldest_pending_at, 0.0)
                )
            )
        ],
        unit="s",
    )


# Across the outbox: the W3C Trace Context headers only (w3.org/TR/trace-context: ``traceparent``
# and ``tracestate``, whose values "SHOULD" fit 512 characters), never the host's global
# propagators: baggage may carry anything, and the row is kept for days.
_W3C = TraceContextTextMapPropagator()
MAX_TRACESTATE = 512
DELIVER = "outbox.deliver"


def current_trace_context() -> str | None:
    """
    The current span's W3C trace context as the outbox stores it with a command: the JSON object
    of its ``traceparent`` and ``tracestate`` headers; None outside a valid span (no SDK, or no
    span: the columns stay NULL).
    """
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    if len(carrier.get("tracestate", "")) > MAX_TRACESTATE:
        del carrier["tracestate"]
    return json.dumps(carrier, separators=(",", ":"))


def link_to(stored: str | None) -> list[Link]:
    """A link to the span context `current_trace_context` stored; none if absent or unreadable."""
    if not stored:
        return []
    try:
        carrier = json.loads(stored)
    except ValueError:
        return []
    if not isinstance(carrier, dict):
        return []
    headers = {k: v for k, v in carrier.items() if isinstance(v, str)}
    context = trace.get_current_span(_W3C.extract(headers)).get_span_context()
    return [Link(context)] if context.is_valid else []


class _Unrecorded(DeliveryRecord):
    def record(self, outcome: str, error: BaseException | None = None) -> None:
        """Nothing is recorded without a tracer."""


_UNRECORDED = _Unrecorded()


class _DeliverySpan(DeliveryRecord):
    def __init__(self, span: Span) -> None:
        self.span = span

    def record(self, outcome: str, error: BaseException | None = None) -> None:
        """The outcome, and the error's type, vendor code and status (never its message)."""
        self.span.set_attribute("portico.outcome", outcome)
        if error is not None:
            self.span.set_attributes(error_attributes(error))
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))


class OutboxDeliverySpans(DeliveryObserver):
    """
    The relay's ``outbox.deliver`` spans: one per delivery of a stored command, of kind CONSUMER,
    with a link (not a parent) to the span that enqueued the command, since the delivery runs
    hours later in another process (OpenTelemetry's messaging conventions: a "process" span links
    to the message's creation context). The port call and its HTTP attempts are its children.

    Attributes: ``portico.integration`` and ``portico.operation`` (the command's kind),
    ``portico.outbox.attempt``, ``portico.outbox.lease_expired`` and ``portico.outcome``, with
    `error_attributes` when an error decided it; never an entry id, a payload or a key.
    """

    def __init__(self, telemetry: Telemetry | None = None) -> None:
        self.telemetry = telemetry if telemetry is not None else TELEMETRY

    def __repr__(self) -> str:
        return "OutboxDeliverySpans()"

    @contextmanager
    def delivering(self, entry: OutboxEntry) -> Iterator[DeliveryRecord]:
        """A current span around delivering ``entry`` while tracing; nothing otherwise."""
        telemetry = self.telemetry
        if not telemetry.tracing:
            yield _UNRECORDED
            return
        attributes: dict[str, Any] = {
            "portico.integration": entry.integration,
            "portico.operation": entry.kind,
            "portico.outbox.attempt": entry.attempts,
            "portico.outbox.lease_expired": entry.lease_expired,
        }
        with telemetry.tracer.start_as_current_span(
            DELIVER,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=link_to(entry.trace_context),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            delivery = _DeliverySpan(span)
            try:
                yield delivery
            except Exception as exc:
                delivery.record("error", exc)
                raise


def _proxy(provider: object) -> bool:
    # The API's global meter provider is a proxy until the SDK's is set (no public class name).
    return type(provider).__name__.startswith("_Proxy")


TELEMETRY = Telemetry()
