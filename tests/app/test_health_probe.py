"""
``portico health --probe`` against every vendor played by its simulator on a real socket.

All answering with good credentials: exit 0. One vendor unreachable, or refusing its credentials:
exit 1, the port named with the reason. Before, only Stripe was really asked: HubSpot's probe was
refused inside the adapter, WhatsApp's read the local status log, and both counted as healthy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import free_port
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.server import serve
from tests.simulators.stripe import StripeSimulator
from tests.simulators.twilio import TwilioSimulator
from tests.simulators.vapi import VapiSimulator
from tests.simulators.whatsapp import WhatsAppSimulator

from portico.app.entrypoints.cli import main


# section -> (port, simulator factory, its good credentials, a refused variant of them)
VENDORS: dict[str, tuple[str, Any, dict[str, str], dict[str, str]]] = {
    "hubspot": ("crm", HubSpotSimulator, {"token": "pat-na1-simulated"}, {"token": "pat-revoked"}),
    "stripe": (
        "payments",
        StripeSimulator,
        {"api_key": "sk_test_simulated"},
        {"api_key": "sk_test_rolled"},
    ),
    "vapi": (
        "voice",
        VapiSimulator,
        {"api_key": "vapi-test-private-key", "phone_number_id": "pn-1"},
        {"api_key": "vapi-public-key"},
    ),
    "whatsapp": (
        "messaging",
        WhatsAppSimulator,
        {"token": "EAAG-test-token", "phone_number_id": "106540352242922"},
        {"token": "EAAG-expired"},
    ),
    "360dialog": (
        "messaging",
        WhatsAppSimulator,
        {"api_key": "d360-test-key"},
        {"api_key": "d360-revoked"},
    ),
    "twilio": (
        "messaging",
        TwilioSimulator,
        {
            "account_sid": "AC" + "0123456789abcdef" * 2,
            "auth_token": "twilio-test-auth-token",
            "from_number": "+15017122661",
        },
        {"auth_token": "rotated"},
    ),
}
MESSAGING = ("whatsapp", "360dialog", "twilio")


@contextmanager
def _vendors(messaging: str) -> Iterator[dict[str, str]]:
    """The three non-messaging vendors and ``messaging``, each served; their base URLs."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(serve(VENDORS[name][1]()))
            for name in ("hubspot", "stripe", "vapi", messaging)
        }


def _config(
    tmp_path: Path, urls: dict[str, str], messaging: str, changed: dict[str, dict[str, str]]
) -> Path:
    config: dict[str, Any] = {
        "environment": "sandbox",
        "data_dir": str(tmp_path / "data"),
        "messaging": {"provider": messaging},
        # One attempt each: an unreachable vendor fails at once (the default retries with backoff).
        "resilience": {name: {"retry_attempts": 1} for name in urls},
    }
    for name, url in urls.items():
        config[name] = {**VENDORS[name][2], "base_url": url, **changed.get(name, {})}
    path = tmp_path / "portico.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _health(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """The exit code and the messages of the report's ``probe_failed`` findings."""
    code = main(["health", "--probe", "--config", str(config), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    return code, [f["message"] for f in report["findings"] if f["code"] == "probe_failed"]


@pytest.mark.parametrize("messaging", MESSAGING)
def test_every_vendor_answering_is_healthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], messaging: str
) -> None:
    """HubSpot, Stripe, Vapi and the messaging vendor all answer the probe: exit 0."""
    with _vendors(messaging) as urls:
        code, failures = _health(_config(tmp_path, urls, messaging, {}), capsys)
    assert failures == []
    assert code == 0


@pytest.mark.parametrize("vendor", ["hubspot", "stripe", "vapi", *MESSAGING])
def test_an_unreachable_vendor_is_unhealthy_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], vendor: str
) -> None:
    """Nothing listens at one vendor's URL: exit 1, that port named "unreachable"."""
    messaging = vendor if vendor in MESSAGING else "whatsapp"
    with _vendors(messaging) as urls:
        urls[vendor] = f"http://127.0.0.1:{free_port()}"
        code, failures = _health(_config(tmp_path, urls, messaging, {}), capsys)
    assert code == 1
    assert len(failures) == 1, failures
    port = VENDORS[vendor][0]
    assert failures[0].startswith(f"{port}: unreachable: ")
    assert "NetworkError" in failures[0]


@pytest.mark.parametrize("vendor", ["hubspot", "stripe", "vapi", *MESSAGING])
def test_refused_credentials_are_unhealthy_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], vendor: str
) -> None:
    """One vendor refuses its credential: exit 1, that port named, and no secret printed."""
    messaging = vendor if vendor in MESSAGING else "whatsapp"
    refused = VENDORS[vendor][3]
    with _vendors(messaging) as urls:
        code, failures = _health(_config(tmp_path, urls, messaging, {vendor: refused}), capsys)
    assert code == 1
    assert len(failures) == 1, failures
    port = VENDORS[vendor][0]
    expected = f"{port}: credentials refused: AuthenticationFailed"
    assert failures[0].startswith(expected)
    for secret in refused.values():
        assert secret not in failures[0]
