"""Building the messaging and voice adapters from configuration (app.adapters_wiring)."""

from __future__ import annotations

from typing import Any

import pytest

from portico.adapters.twilio import TwilioMessaging
from portico.adapters.vapi import VapiVoice
from portico.adapters.whatsapp import DIALOG360, WhatsAppMessaging
from portico.app.wiring.adapters import build_messaging, build_voice, check_production_config
from portico.app.wiring.container import ConfigurationError
from portico.ports.messaging import MessagingPort
from portico.ports.voice import VoicePort


TWILIO = {
    "account_sid": "AC" + "0" * 32,
    "auth_token": "tok",
    "from_number": "+15017122661",
    "content_sids": {"hello_world": "HX" + "1" * 32},
}


@pytest.mark.parametrize(
    ("config", "kind", "provider"),
    [
        pytest.param(
            {"whatsapp": {"token": "t", "phone_number_id": "123"}},
            WhatsAppMessaging,
            "whatsapp",
            id="default-whatsapp",
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
async def test_build_messaging_picks_the_provider(
    config: dict[str, Any], kind: type, provider: str
) -> None:
    """messaging.provider chooses the adapter; every choice is a MessagingPort."""
    adapter = build_messaging(config)
    try:
        assert isinstance(adapter, kind)
        assert isinstance(adapter, MessagingPort)
        if isinstance(adapter, WhatsAppMessaging):
            assert adapter.provider == provider
            assert (adapter.flavour is DIALOG360) == (provider == "360dialog")
        if isinstance(adapter, TwilioMessaging):
            assert dict(adapter.content_sids) == TWILIO["content_sids"]
    finally:
        await adapter.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("config", "names"),
    [
        pytest.param(
            {}, ["PORTICO_WHATSAPP_TOKEN", "PORTICO_WHATSAPP_PHONE_NUMBER_ID"], id="whatsapp"
        ),
        pytest.param({"messaging_provider": "360dialog"}, ["PORTICO_D360_API_KEY"], id="d360"),
        pytest.param(
            {"messaging_provider": "twilio"},
            [
                "PORTICO_TWILIO_ACCOUNT_SID",
                "PORTICO_TWILIO_AUTH_TOKEN",
                "PORTICO_TWILIO_FROM_NUMBER",
            ],
            id="twilio",
        ),
        pytest.param(
            {"messaging_provider": "pigeon"}, ["PORTICO_MESSAGING_PROVIDER"], id="unknown"
        ),
    ],
)
def test_missing_messaging_settings_are_named(config: dict[str, Any], names: list[str]) -> None:
    """A missing setting fails at build time naming every missing PORTICO_ variable."""
    with pytest.raises(ConfigurationError) as caught:
        build_messaging({"environment": "production", **config})
    for name in names:
        assert name in str(caught.value)
    assert set(names) <= set(check_production_config(config))


def test_invalid_twilio_settings_fail_naming_the_field_not_the_value() -> None:
    """A malformed account SID is a ConfigurationError naming the field, not echoing secrets."""
    config = {"messaging_provider": "twilio", "twilio": {**TWILIO, "account_sid": "secretish"}}
    with pytest.raises(ConfigurationError, match="account_sid") as caught:
        build_messaging(config)
    assert "secretish" not in str(caught.value)


async def test_build_voice_needs_key_and_number_id() -> None:
    """build_voice gives a VapiVoice, or names the missing Vapi variables."""
    with pytest.raises(ConfigurationError, match=r"PORTICO_VAPI_API_KEY.*PORTICO_VAPI_PHONE"):
        build_voice({})
    voice = build_voice({"vapi_api_key": "k", "vapi": {"phone_number_id": "pn"}})
    assert isinstance(voice, VapiVoice)
    assert isinstance(voice, VoicePort)
    await voice.aclose()
