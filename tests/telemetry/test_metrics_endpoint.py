"""
Issue 16: ``GET /metrics`` on a real ``portico serve`` (uvicorn, a real socket), in Prometheus'
text format, parsed with prometheus_client's own parser; and the delivery span of the ingress.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from portico.adapters.webhooks.signers import sign_stripe
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.wiring.container import create_container
from portico.app.wiring.webhooks import DEV_SECRETS
from tests.telemetry.conftest import Recorded


REFUND = {
    "id": "evt_metrics_1",
    "object": "event",
    "created": 1686089970,
    "type": "refund.created",
    "data": {
        "object": {
            "id": "re_metrics_1",
            "object": "refund",
            "amount": 2500,
            "currency": "eur",
            "payment_intent": "pi_metrics_1",
            "status": "succeeded",
        }
    },
}


def _signed(event: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, sign_stripe(body, DEV_SECRETS["stripe"]["secret"])


def test_metrics_are_served_in_prometheus_text_by_portico_serve(tmp_path: Path) -> None:
    """A delivery twice: deliveries by verdict, duplicates and breaker states are scraped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env["PORTICO_DATA_DIR"] = str(tmp_path)
    command = [sys.executable, "-m", "portico.app.entrypoints.cli", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning", "--no-relay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base = first.rsplit(" ", 1)[1].strip()
        lines = [first]
        while lines[-1] and not lines[-1].startswith("Data directory:"):
            lines.append(proc.stdout.readline())
        assert f"  GET  {base}/metrics\n" in lines
        body, headers = _signed(REFUND)
        for _ in range(2):
            assert httpx.post(f"{base}/webhooks/stripe", content=body, headers=headers).is_success
        scraped = httpx.get(f"{base}/metrics")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    deliveries = {
        s.labels["portico_webhook_verdict"]: s.value
        for s in families["portico_webhook_deliveries"].samples
        if s.name.endswith("_total")
    }
    assert deliveries == {"processed": 1.0, "duplicate": 1.0}
    (duplicates,) = [
        s for s in families["portico_webhook_duplicates"].samples if s.name.endswith("_total")
    ]
    assert duplicates.value == 1.0
    states = {
        s.labels["portico_integration"]: s.value for s in families["portico_breaker_state"].samples
    }
    assert states
    assert set(states.values()) == {0.0}  # every circuit closed


async def test_a_delivery_is_a_server_span_around_its_handlers(otel: Recorded) -> None:
    """Provider, route, event types and verdict on the span; handler port calls are children."""
    container = create_container({"environment": "fake"}, env={})
    app = create_webhook_app(container, prefix="/webhooks")
    refund = {**REFUND, "id": "evt_span_1"}
    body, headers = _signed(refund)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hooks.example") as http:
        first = await http.post("/webhooks/stripe", content=body, headers=headers)
        again = await http.post("/webhooks/stripe", content=body, headers=headers)
        forged = await http.post(
            "/webhooks/stripe", content=body, headers={"stripe-signature": "t=1,v1=00"}
        )
    assert (first.status_code, again.status_code, forged.status_code) == (200, 200, 401)
    spans = otel.finished("POST /webhooks/{provider}")
    assert [s.kind for s in spans] == [SpanKind.SERVER] * 3
    verdicts = [dict(s.attributes or {}) for s in spans]
    assert [v["portico.webhook.verdict"] for v in verdicts] == [
        "processed",
        "duplicate",
        "rejected",
    ]
    assert verdicts[0]["portico.webhook.event_types"] == ("RefundIssued",)
    assert verdicts[0]["portico.webhook.provider"] == "stripe"
    assert "does not match" in str(verdicts[2]["portico.webhook.reason"])
