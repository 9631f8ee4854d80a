"""
Every vendor adapter's ``probe()`` is one authenticated GET that reaches the vendor.

Against each simulator: the right credentials get an answer (and the simulator saw exactly that
request), wrong ones are `AuthenticationFailed`, and nothing is answered locally (before this,
HubSpot's probe id was refused inside the adapter and WhatsApp's read its own status log).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.sim_base import Simulator
from tests.simulators.stripe import StripeSimulator
from tests.simulators.twilio import TwilioSimulator
from tests.simulators.vapi import VapiSimulator
from tests.simulators.whatsapp import WhatsAppSimulator

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.stripe import StripePayments
from portico.adapters.twilio import TwilioMessaging
from portico.adapters.vapi import VapiVoice
from portico.adapters.whatsapp import DIALOG360, WhatsAppMessaging, meta_cloud
from portico.domain.errors import AuthenticationFailed, InvalidRequest, PermanentError
from portico.domain.values import PhoneNumber


Build = Callable[[httpx.AsyncClient, bool], Any]

_TWILIO_SID = "AC" + "0123456789abcdef" * 2


def _hubspot(http: httpx.AsyncClient, good: bool) -> HubSpotCRM:
    return HubSpotCRM(http=http, token="pat-na1-simulated" if good else "pat-na1-revoked")


def _stripe(http: httpx.AsyncClient, good: bool) -> StripePayments:
    return StripePayments(http=http, api_key="sk_test_simulated" if good else "sk_test_rolled")


def _meta(http: httpx.AsyncClient, good: bool) -> WhatsAppMessaging:
    token = "EAAG-test-token" if good else "EAAG-expired"
    return WhatsAppMessaging(
        http=http, credential=token, flavour=meta_cloud(), phone_number_id="106540352242922"
    )


def _dialog360(http: httpx.AsyncClient, good: bool) -> WhatsAppMessaging:
    key = "d360-test-key" if good else "d360-revoked"
    return WhatsAppMessaging(http=http, credential=key, flavour=DIALOG360)


def _twilio(http: httpx.AsyncClient, good: bool) -> TwilioMessaging:
    token = "twilio-test-auth-token" if good else "rotated-token"
    return TwilioMessaging(
        http=http, account_sid=_TWILIO_SID, auth_token=token, sender=PhoneNumber("+15017122661")
    )


def _vapi(http: httpx.AsyncClient, good: bool) -> VapiVoice:
    key = "vapi-test-private-key" if good else "vapi-public-key-by-mistake"
    return VapiVoice(http=http, api_key=key, phone_number_id="pn-1")


VENDORS: dict[str, tuple[Callable[[], Simulator], Build, str, str]] = {
    "hubspot": (HubSpotSimulator, _hubspot, "https://api.hubapi.com", "/crm/v3/objects/contacts"),
    "stripe": (StripeSimulator, _stripe, "https://api.stripe.com", "/v1/payment_intents"),
    "whatsapp": (WhatsAppSimulator, _meta, "https://graph.facebook.com", "/v23.0/106540352242922"),
    "360dialog": (WhatsAppSimulator, _dialog360, DIALOG360.base_url, "/v1/configs/templates"),
    "twilio": (
        TwilioSimulator,
        _twilio,
        "https://api.twilio.com",
        f"/2010-04-01/Accounts/{_TWILIO_SID}.json",
    ),
    "vapi": (VapiSimulator, _vapi, "https://api.vapi.ai", "/call"),
}


@asynccontextmanager
async def _adapter(vendor: str, good: bool) -> AsyncIterator[tuple[Any, Simulator]]:
    make_sim, build, base, _ = VENDORS[vendor]
    sim = make_sim()
    async with httpx.AsyncClient(base_url=base, transport=httpx.ASGITransport(app=sim)) as http:
        yield build(http, good), sim


@pytest.mark.parametrize("vendor", list(VENDORS))
async def test_the_probe_is_one_authenticated_get_the_vendor_answers(vendor: str) -> None:
    """Good credentials: the vendor saw exactly one GET of the documented read."""
    async with _adapter(vendor, good=True) as (adapter, sim):
        assert await adapter.probe() is None
    assert [(r.method, r.path) for r in sim.received] == [("GET", VENDORS[vendor][3])]


@pytest.mark.parametrize("vendor", list(VENDORS))
async def test_refused_credentials_are_authentication_failed(vendor: str) -> None:
    """Wrong credentials: the vendor's 401 is `AuthenticationFailed`, never a success."""
    async with _adapter(vendor, good=False) as (adapter, sim):
        with pytest.raises(AuthenticationFailed) as raised:
            await adapter.probe()
    assert raised.value.status_code == 401
    assert len(sim.received) == 1  # it was the vendor that refused, not the adapter


async def test_meta_refuses_a_number_the_token_cannot_see() -> None:
    """A phone number id that is not the token's: Meta's 400 (code 100) fails the probe."""
    sim = WhatsAppSimulator()
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(base_url="https://graph.facebook.com", transport=transport) as h:
        adapter = WhatsAppMessaging(
            http=h, credential="EAAG-test-token", flavour=meta_cloud(), phone_number_id="999"
        )
        with pytest.raises(PermanentError) as raised:
            await adapter.probe()
    assert isinstance(raised.value, InvalidRequest)
    assert raised.value.status_code == 400
