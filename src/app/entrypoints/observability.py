"""
Metrics for `portico serve`: the OpenTelemetry SDK with a Prometheus reader, at ``GET /metrics``.

A host that embeds Portico configures its own SDK (its exporters, its ``/metrics``) and Portico's
instruments report there. ``portico serve`` has no host, so when the ``portico[otel]`` extra is
installed and no meter provider is set yet, it installs one whose reader is the OpenTelemetry
Prometheus exporter (`install_prometheus`), and the webhook app renders it at ``/metrics``
(`render_metrics`) in Prometheus' text format. Traces are left to the environment: the SDK's
``OTEL_*`` variables and an exporter the operator installs (``opentelemetry-instrument``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...adapters.telemetry import TELEMETRY, observe_outbox
from ...domain.outbox import OutboxStatus


__all__ = ["PROMETHEUS_CONTENT_TYPE", "install_prometheus", "record_outbox", "render_metrics"]

logger = logging.getLogger("portico.telemetry")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_render: Callable[[], bytes] | None = None
_outbox: list[OutboxStatus | None] = [None]  # the status the outbox gauges report


def install_prometheus(breakers: Callable[[], Any] | None = None) -> bool:
    """
    Install a meter provider exporting to Prometheus, unless the SDK is absent or a host set one.

    Args:
        breakers: the registry's ``snapshot`` (rows of `IntegrationHealth`), observed as the
            ``portico.breaker.state`` gauge.

    Returns True when ``/metrics`` has something to render.
    """
    global _render
    if _render is not None:
        return True
    try:
        from opentelemetry import metrics
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import REGISTRY, generate_latest
    except ImportError:
        logger.info("metrics: install portico[otel] for GET /metrics")
        return False
    if TELEMETRY.metering:
        logger.info("metrics: the host's meter provider is in use; no /metrics from Portico")
        return False
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    metrics.set_meter_provider(provider)
    TELEMETRY.configure(meter_provider=provider)
    if breakers is not None:
        TELEMETRY.observe_breakers(breakers)
    observe_outbox(TELEMETRY, lambda: _outbox[0])
    _render = lambda: generate_latest(REGISTRY)  # noqa: E731 - bound once, called per scrape
    return True


def record_outbox(status: OutboxStatus | None) -> None:
    """The outbox status the next scrape reports (None: unreadable, its gauges go quiet)."""
    _outbox[0] = status


def render_metrics() -> bytes | None:
    """The Prometheus text of every Portico instrument, or None when none is installed."""
    return None if _render is None else _render()
