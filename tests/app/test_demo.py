"""``portico demo``: the whole patient story on the fakes, as a report."""

from __future__ import annotations

import pytest

from portico.app.entrypoints import cli


def test_demo_tells_the_whole_story_without_patient_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The demo exits 0 and reports every step, with the phone number masked."""
    assert cli.main(["demo"]) == 0
    report = capsys.readouterr().out
    steps = [
        "1. Patient +40*******78 writes",
        "2. Contact upserted in the CRM",
        "3. Deal opened",
        "4. Checkout link created",
        "https://checkout.stripe.com/c/pay/cs_",
        "sent by message         WhatsApp, read (sent now)",
        "5. Payment succeeded",
        "6. Deal moved",
        "stage won",
        "Webhooks answered at once       5 side effects queued in the outbox",
        "Outbox relay                    queued -> delivered: 5 commands by the relay",
        "Receipt sent by message         once, for 4 payment webhook deliveries",
        "Receipt sent by email           once, from receipts@clinic.example",
        "7. Follow-up call requested",
        "Call ended, outcome noted       customer-ended-call, 94 s",
        "queued -> delivered: 1 command by the relay",
        "is now a customer with 2 notes; 2 messages sent, 1 call",
    ]
    for step in steps:
        assert step in report
    for secret in ("712345678", "712 345 678", "Ana", "Popescu", "parking", "ana.popescu"):
        assert secret not in report


def test_demo_ignores_a_portico_environment_in_the_shell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo always runs on the fakes, whatever PORTICO_ENVIRONMENT says."""
    monkeypatch.setenv("PORTICO_ENVIRONMENT", "production")
    assert cli.main(["demo"]) == 0
    assert "6. Deal moved" in capsys.readouterr().out
