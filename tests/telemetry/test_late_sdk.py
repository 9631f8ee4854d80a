"""
An SDK the host installs after building the container is noticed, and noticing it costs the hot
path no clock read per call: one per `RECHECK_CALLS` checks, a look at the providers at most once
per `RECHECK_SECONDS` (fake clock, no sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from portico.adapters.resilience import Pipeline, ResiliencePolicy, build_pipeline
from portico.adapters.telemetry import RECHECK_CALLS, RECHECK_SECONDS, TELEMETRY, Telemetry
from portico.domain.errors import CircuitOpenError
from portico.testing import FakeClock
from tests.telemetry.conftest import Recorded


class CountingClock(FakeClock):
    """A fake clock that counts its monotonic reads."""

    __slots__ = ("reads",)

    def __init__(self) -> None:
        super().__init__(monotonic=1000.0)
        self.reads = 0

    def monotonic(self) -> float:
        """The fake reading, counted."""
        self.reads += 1
        return super().monotonic()


def _install_sdk(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """What ``set_tracer_provider`` and ``set_meter_provider`` do, undone after the test."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracer_provider)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: meter_provider)
    return Recorded(exporter, reader)


@pytest.fixture(name="clock")
def _clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingClock]:
    """`TELEMETRY` on a counting fake clock, built (looked at the providers) at its start."""
    clock = CountingClock()
    monkeypatch.setattr(TELEMETRY, "clock", clock)
    TELEMETRY.refresh()
    yield clock
    monkeypatch.undo()  # the real clock and the global providers (a test's late SDK too)
    TELEMETRY.configure()
    assert not TELEMETRY.observing


def _open_pipeline() -> Pipeline:
    pipeline = build_pipeline("stripe", ResiliencePolicy())
    pipeline.breaker.force_open()
    return pipeline


async def _refuse(pipeline: Pipeline, calls: int) -> None:
    for _ in range(calls):
        with pytest.raises(CircuitOpenError):
            await pipeline.call("create_intent", _never, idempotent=True, port="payments")


async def _never() -> None:
    raise AssertionError("an open breaker calls nothing")


async def test_without_an_sdk_a_call_reads_no_clock(clock: CountingClock) -> None:
    """With no SDK, Pipeline.call reads the clock once per RECHECK_CALLS calls, not per call."""
    pipeline = _open_pipeline()
    clock.reads = 0
    await _refuse(pipeline, 10 * RECHECK_CALLS)
    assert clock.reads <= 10
    assert not TELEMETRY.active


async def test_a_late_sdk_traces_every_refusal_once_noticed(
    clock: CountingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SDK installed after the container is seen within RECHECK_CALLS calls of the recheck."""
    pipeline = _open_pipeline()
    await _refuse(pipeline, 3)
    recorded = _install_sdk(monkeypatch)
    await _refuse(pipeline, 2 * RECHECK_CALLS)  # within RECHECK_SECONDS: not looked at yet
    assert recorded.finished() == []
    clock.advance(RECHECK_SECONDS)
    await _refuse(pipeline, RECHECK_CALLS + 1)
    assert TELEMETRY.active
    seen = len(recorded.finished("payments.create_intent"))
    assert seen >= 1
    await _refuse(pipeline, 5)  # from now on, every refusal is a span and a count
    spans = recorded.finished("payments.create_intent")
    assert len(spans) == seen + 5
    assert {s.attributes["portico.outcome"] for s in spans if s.attributes} == {"rejected"}
    calls = sum(int(v) for _a, v in recorded.points("portico.calls"))  # type: ignore[call-overload]
    assert calls == seen + 5


def test_refresh_sees_a_late_sdk_at_once(
    clock: CountingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that installs the SDK late can call refresh() instead of waiting for the recheck."""
    assert not TELEMETRY.observing
    _install_sdk(monkeypatch)
    assert not TELEMETRY.observing  # the recheck is not due
    TELEMETRY.refresh()
    assert TELEMETRY.active
    assert TELEMETRY.tracing
    assert TELEMETRY.metering


def test_the_recheck_looks_at_most_once_per_recheck_seconds() -> None:
    """Checks past the countdown read the clock; the providers are looked at only when due."""
    clock = CountingClock()
    telemetry = Telemetry(clock=clock)
    assert not telemetry.observing  # the first check looks
    reads = clock.reads
    for _ in range(RECHECK_CALLS):
        assert not telemetry.observing
    assert clock.reads == reads  # counted down, no clock read
    assert not telemetry.observing
    assert clock.reads == reads + 1  # the countdown ran out: one read, not due, no look


async def test_a_hosts_lifespan_sees_an_sdk_installed_after_the_container_was_built(
    clock: CountingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual host: container at import, SDK set up later, then ``lifespan`` at start-up."""
    import portico

    container = portico.create_container({}, env={})
    _install_sdk(monkeypatch)
    assert not TELEMETRY.active  # the recheck is not due
    async with portico.lifespan(container, relay=False):
        assert TELEMETRY.active
