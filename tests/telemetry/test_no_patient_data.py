"""
Issue 16: the patient story, recorded by an in-memory SDK, leaves no secret, no phone number, no
name and no message body in any span attribute, span event or metric attribute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portico.app.entrypoints import cli
from portico.app.wiring.webhooks import DEV_SECRETS
from tests.telemetry.conftest import Recorded


# What the demo's patient gives away, in every form a number is written.
PATIENT_DATA = ("712345678", "712 345 678", "Ana", "Popescu", "consultation.", "Hello, I")
DELIVER_ATTRIBUTES = {
    "portico.integration",
    "portico.operation",
    "portico.outbox.attempt",
    "portico.outbox.lease_expired",
    "portico.outcome",
    "error.type",
    "portico.vendor_code",
    "http.response.status_code",
}


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    else:
        yield str(value)


def test_the_story_is_traced_and_nothing_secret_is_recorded(
    otel: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every port call and outbox delivery of the demo is a span; none carries patient data."""
    assert cli.main(["demo"]) == 0
    capsys.readouterr()
    spans = otel.finished()
    names = {s.name for s in spans}
    assert {"messaging.send", "crm.upsert_contact", "payments.create_checkout_link"} <= names
    assert "voice.start_call" in names
    delivers = otel.finished("outbox.deliver")  # the relay's deliveries of queued side effects
    assert {otel.attributes(s)["portico.operation"] for s in delivers} >= {
        "send_message",
        "move_deal",
        "add_note",
    }
    for span in delivers:  # names, counts and outcomes only: no entry id, key or payload
        assert set(otel.attributes(span)) <= DELIVER_ATTRIBUTES
    values: list[str] = []
    for span in spans:
        values.extend(v for item in (span.attributes or {}).values() for v in _strings(item))
        for event in span.events:
            values.extend(v for item in (event.attributes or {}).values() for v in _strings(item))
    data = otel.metrics.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    values.extend(str(v) for v in (point.attributes or {}).values())
    assert values  # something was recorded
    secrets = [str(s) for section in DEV_SECRETS.values() for s in section.values()]
    for value in values:
        for needle in (*PATIENT_DATA, *secrets):
            assert needle not in value, f"{needle!r} recorded in {value!r}"
