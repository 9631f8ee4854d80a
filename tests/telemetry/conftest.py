"""An in-memory OpenTelemetry SDK for `TELEMETRY`, for one test, then back to the global no-op."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from portico.adapters.telemetry import TELEMETRY


@attrs.frozen
class Recorded:
    """What the SDK recorded: finished spans and metric points."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (named ``name``), oldest first."""
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    @staticmethod
    def attributes(item: ReadableSpan | Event) -> dict[str, object]:
        """A span's or an event's attributes as a plain dict."""
        return dict(item.attributes or {})

    def points(self, metric: str) -> list[tuple[dict[str, object], object]]:
        """(attributes, value or sum) of every point of ``metric``."""
        data = self.metrics.get_metrics_data()
        found: list[tuple[dict[str, object], object]] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name != metric:
                        continue
                    for point in item.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = getattr(point, "sum", None)
                        found.append((dict(point.attributes or {}), value))
        return found


@pytest.fixture(name="otel")
def _otel() -> Iterator[Recorded]:
    """`TELEMETRY` records into memory for the test; afterwards it follows the global no-op."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    TELEMETRY.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    assert TELEMETRY.tracing
    assert TELEMETRY.metering
    yield Recorded(exporter, reader)
    TELEMETRY.configure()
    assert not TELEMETRY.observing
