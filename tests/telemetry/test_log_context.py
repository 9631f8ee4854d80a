"""Issue 16: log records carry the trace and span ids and the correlation id (never the raw id)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from portico.adapters.telemetry import TELEMETRY, LogContext
from portico.domain.correlation import correlated, correlation_id, for_event
from tests.telemetry.conftest import Recorded


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(LogContext())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(name="kept")
def _kept() -> Iterator[_Keep]:
    handler = _Keep()
    logger = logging.getLogger("portico.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def test_records_inside_a_span_and_a_delivery_carry_both_ids(otel: Recorded, kept: _Keep) -> None:
    """Inside a span and an event's correlation: the ids; outside: dashes."""
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    with correlated(for_event("whatsapp", wamid)):
        with TELEMETRY.tracer.start_as_current_span("work") as span:
            logging.getLogger("portico.test").info("inside")
        assert correlation_id() == for_event("whatsapp", wamid)
    logging.getLogger("portico.test").info("outside")
    inside, outside = kept.records
    context = span.get_span_context()
    assert inside.trace_id == format(context.trace_id, "032x")  # type: ignore[attr-defined]
    assert inside.span_id == format(context.span_id, "016x")  # type: ignore[attr-defined]
    assert inside.correlation_id == for_event("whatsapp", wamid)  # type: ignore[attr-defined]
    assert len(inside.correlation_id) == 16  # type: ignore[attr-defined]
    assert wamid not in inside.correlation_id  # type: ignore[attr-defined]
    assert (outside.trace_id, outside.correlation_id) == ("-", "-")  # type: ignore[attr-defined]
    assert correlation_id() is None


def test_correlated_blocks_nest_and_none_keeps_the_current_id() -> None:
    """An inner block restores the outer id on exit, even on an error; None changes nothing."""
    assert correlation_id() is None
    with correlated("outer"):
        with correlated(None):
            assert correlation_id() == "outer"
        seen: list[str | None] = []

        def fail_inside() -> None:
            with correlated("x" * 100):
                seen.append(correlation_id())
                raise RuntimeError

        with pytest.raises(RuntimeError):
            fail_inside()
        assert seen == ["x" * 64]
        assert correlation_id() == "outer"
    assert correlation_id() is None
