"""Building the messaging and voice adapters from settings: the vendor specs, via the container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portico.adapters.twilio import TwilioMessaging
from portico.adapters.vapi import VapiVoice
from portico.adapters.whatsapp import DIALOG360, WhatsAppMessaging
from portico.app.wiring.container import ConfigurationError, create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings


TWILIO = {
    "account_sid": "AC" + "0" * 32,
    "auth_token": "twilio-auth-secret",
    "from_number": "+15017122661",
    "content_sids": {"hello_world": "HX" + "1" * 32},
}


def _production(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """A production configuration whose stores (WhatsApp's status file) live in tmp_path."""
    return {"environment": "production", "data_dir": str(tmp_path), **config}


@pytest.mark.parametrize(
    ("config", "kind", "provider"),
    [
        pytest.param(
            {"whatsapp": {"token": "t", "phone_number_id": "123"}},
            WhatsAppMessaging,
            "whatsapp",
            id="only-whatsapp-configured",
        ),
        pytest.param(
            {"messaging": {"provider": "360dialog"}, "d360_api_key": "k"},
            WhatsAppMessaging,
            "360dialog",
            id="360dialog-flat",
        ),
        pytest.param(
            {"messaging": {"provider": "Twilio"}, "twilio": TWILIO},
            TwilioMessaging,
            "twilio",
            id="twilio-nested",
        ),
    ],
)
async def test_the_messaging_provider_picks_the_adapter(
    tmp_path: Path, config: dict[str, Any], kind: type, provider: str
) -> None:
    """messaging.provider (or the one vendor configured) chooses the adapter."""
    container = create_container(_production(tmp_path, config), env={})
    try:
        adapter = container.messaging_adapter()
        assert isinstance(adapter, kind)
        assert container.settings().ports["messaging"] == provider
        assert container.messaging_pipeline().integration == provider
        if isinstance(adapter, WhatsAppMessaging):
            assert adapter.provider == provider
            assert (adapter.flavour is DIALOG360) == (provider == "360dialog")
        if isinstance(adapter, TwilioMessaging):
            assert dict(adapter.content_sids) == TWILIO["content_sids"]
    finally:
        await aclose_container(container)


@pytest.mark.parametrize(
    ("config", "names"),
    [
        pytest.param(
            {"messaging_provider": "whatsapp"},
            ["PORTICO_WHATSAPP__TOKEN", "PORTICO_WHATSAPP__PHONE_NUMBER_ID"],
            id="whatsapp",
        ),
        pytest.param(
            {"messaging_provider": "360dialog"}, ["PORTICO_360DIALOG__API_KEY"], id="d360"
        ),
        pytest.param(
            {"messaging_provider": "twilio"},
            ["PORTICO_TWILIO__ACCOUNT_SID", "PORTICO_TWILIO__AUTH_TOKEN"],
            id="twilio",
        ),
        pytest.param(
            {"messaging_provider": "pigeon"}, ["PORTICO_MESSAGING__PROVIDER"], id="unknown"
        ),
    ],
)
def test_missing_messaging_settings_are_named(config: dict[str, Any], names: list[str]) -> None:
    """A missing setting fails at start-up naming every missing PORTICO_ variable at once."""
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"environment": "production", **config}, env={})
    assert len(caught.value.problems) == len(names)
    for name in names:
        assert name in str(caught.value)


def test_a_twilio_sender_is_required(tmp_path: Path) -> None:
    """Twilio without a from_number or a messaging service fails naming the setting to give."""
    twilio = {key: TWILIO[key] for key in ("account_sid", "auth_token")}
    config = _production(tmp_path, {"messaging_provider": "twilio", "twilio": twilio})
    with pytest.raises(ConfigurationError) as caught:
        create_container(config, env={})
    message = str(caught.value)
    assert "twilio.from_number" in message
    assert "messaging_service_sid" in message


def test_invalid_twilio_settings_fail_naming_the_field_not_the_value(tmp_path: Path) -> None:
    """A malformed account SID is a ConfigurationError naming the field, not echoing secrets."""
    twilio = {**TWILIO, "account_sid": "secretish"}
    config = _production(tmp_path, {"messaging_provider": "twilio", "twilio": twilio})
    with pytest.raises(ConfigurationError, match=r"twilio\.account_sid") as caught:
        create_container(config, env={})
    assert "secretish" not in str(caught.value)
    assert "twilio-auth-secret" not in str(caught.value)


async def test_the_voice_port_needs_key_and_number_id(tmp_path: Path) -> None:
    """Vapi selected: a VapiVoice from its two settings, or both missing variables named."""
    with pytest.raises(ConfigurationError, match=r"(?s)PORTICO_VAPI__API_KEY.*PORTICO_VAPI__PHONE"):
        create_container(_production(tmp_path, {"voice": {"provider": "vapi"}}), env={})
    config = _production(tmp_path, {"vapi_api_key": "k", "vapi": {"phone_number_id": "pn"}})
    container = create_container(config, env={})
    try:
        voice = container.voice_adapter()
        assert isinstance(voice, VapiVoice)
        assert container.settings().ports == {
            "messaging": None,
            "crm": None,
            "payments": None,
            "voice": "vapi",
            "email": None,
        }
    finally:
        await aclose_container(container)
