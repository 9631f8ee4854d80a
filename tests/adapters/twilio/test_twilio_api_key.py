"""
Twilio API-key authentication: basic auth ``SK...:secret`` while the path keeps the Account SID.

twilio-python's ``ClientBase`` takes ``username`` / ``password`` for the auth and ``account_sid``
(defaulting to the username) for the path; an API key is the username, never the path's account.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from tests.simulators.twilio import TwilioSimulator

from portico.adapters.twilio import TwilioMessaging
from portico.adapters.twilio.spec import TwilioSettings
from portico.domain.errors import AuthenticationFailed, InvalidValue
from portico.domain.messaging import TextMessage
from portico.domain.values import PhoneNumber


KEY_SID = "SK" + "5" * 32
KEY_SECRET = "api-key-secret-not-the-token"
PATIENT = PhoneNumber("+40712345678")


@asynccontextmanager
async def _adapter(sim: TwilioSimulator, **auth: str) -> AsyncIterator[TwilioMessaging]:
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(base_url="https://api.twilio.com", transport=transport) as http:
        yield TwilioMessaging(
            http=http,
            account_sid=sim.account_sid,
            sender=PhoneNumber("+15017122661"),
            **auth,  # type: ignore[arg-type]
        )


def _basic_user(sim: TwilioSimulator) -> str:
    (request,) = sim.requests_to("POST", "/Messages.json")
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(encoded).decode().partition(":")[0]


async def test_an_api_key_authenticates_and_the_path_keeps_the_account() -> None:
    """The key's SID is the basic-auth user; the message is created under the Account SID."""
    sim = TwilioSimulator(api_keys={KEY_SID: KEY_SECRET})
    async with _adapter(sim, auth_token=KEY_SECRET, api_key_sid=KEY_SID) as twilio:
        receipt = await twilio.send(TextMessage(PATIENT, "Your appointment is at 10:00"))
    assert receipt.message_id in sim.messages
    assert _basic_user(sim) == KEY_SID
    (request,) = sim.requests_to("POST", "/Messages.json")
    assert request.path == f"/2010-04-01/Accounts/{sim.account_sid}/Messages.json"


async def test_the_auth_token_still_authenticates_as_the_account() -> None:
    """Without a key the Account SID and its auth token are the pair, as before."""
    sim = TwilioSimulator(api_keys={KEY_SID: KEY_SECRET})
    async with _adapter(sim, auth_token=sim.auth_token) as twilio:
        await twilio.send(TextMessage(PATIENT, "Hello"))
    assert _basic_user(sim) == sim.account_sid


@pytest.mark.parametrize(
    "auth",
    [
        {"auth_token": "wrong-secret", "api_key_sid": KEY_SID},
        {"auth_token": KEY_SECRET},  # a key's secret presented as the account's token
        {"auth_token": KEY_SECRET, "api_key_sid": "SK" + "6" * 32},  # an unknown key
    ],
)
async def test_a_refused_credential_is_authentication_failed(auth: dict[str, str]) -> None:
    """Twilio's 401 / 20003 "Authenticate" is AuthenticationFailed, nothing is created."""
    sim = TwilioSimulator(api_keys={KEY_SID: KEY_SECRET})
    async with _adapter(sim, **auth) as twilio:
        with pytest.raises(AuthenticationFailed) as caught:
            await twilio.send(TextMessage(PATIENT, "Hello"))
    assert caught.value.vendor_code == "20003"
    assert sim.messages == {}


def test_a_malformed_key_sid_is_refused_naming_the_field() -> None:
    """An API key SID is SK + 32 hex digits."""
    with pytest.raises(InvalidValue, match="api_key_sid"):
        TwilioMessaging.build(
            account_sid="AC" + "0" * 32,
            auth_token="secret",
            api_key_sid="AK123",
            sender=PhoneNumber("+15017122661"),
        )


_ACCOUNT = "AC" + "0123456789abcdef" * 2
_SENDER: dict[str, Any] = {"account_sid": _ACCOUNT, "from_number": "+15017122661"}


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({}, "auth_token"),  # neither a token nor a key
        ({"api_key_sid": KEY_SID}, "api_key_sid"),  # a key without its secret
        ({"api_key_secret": KEY_SECRET}, "api_key_sid"),  # a secret without its key
        ({"auth_token": "t", "api_key_sid": KEY_SID, "api_key_secret": "s"}, "auth_token"),
    ],
)
def test_settings_take_a_token_or_a_whole_key(auth: dict[str, Any], field: str) -> None:
    """The section refuses half a key, both kinds at once, or no credential, naming the field."""
    with pytest.raises(InvalidValue, match=field):
        TwilioSettings(**_SENDER, **auth)


def test_settings_with_a_key_build_an_adapter_that_uses_it() -> None:
    """The key's secret is the password; neither secret shows in the section's repr."""
    settings = TwilioSettings(**_SENDER, api_key_sid=KEY_SID, api_key_secret=KEY_SECRET)
    assert settings.password == KEY_SECRET
    assert KEY_SECRET not in repr(settings)
    with_token = TwilioSettings(**_SENDER, auth_token="the-account-token")
    assert with_token.password == "the-account-token"
    assert "the-account-token" not in repr(with_token)


def test_an_api_key_is_enough_for_the_settings_model() -> None:
    """From the environment: the account SID, a sender and a key pair, no auth token: it loads."""
    from portico.app.wiring.settings import load_settings

    env = {
        "PORTICO_ENVIRONMENT": "production",
        "PORTICO_MESSAGING__PROVIDER": "twilio",
        "PORTICO_TWILIO__ACCOUNT_SID": _ACCOUNT,
        "PORTICO_TWILIO__FROM_NUMBER": "+15017122661",
        "PORTICO_TWILIO__API_KEY_SID": KEY_SID,
        "PORTICO_TWILIO__API_KEY_SECRET": KEY_SECRET,
        "PORTICO_CRM__PROVIDER": "none",
        "PORTICO_PAYMENTS__PROVIDER": "none",
        "PORTICO_VOICE__PROVIDER": "none",
    }
    settings = load_settings(None, env=env)
    twilio = settings.vendors["twilio"]
    assert isinstance(twilio, TwilioSettings)
    assert (twilio.api_key_sid, twilio.password) == (KEY_SID, KEY_SECRET)
