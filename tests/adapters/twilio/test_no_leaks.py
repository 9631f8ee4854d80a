"""A whole scenario over every adapter of this area: no secret and no full number escapes."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from tests.simulators.faults import FaultInjector
from tests.simulators.twilio import TwilioSimulator
from tests.simulators.vapi import VapiSimulator
from tests.simulators.whatsapp import WhatsAppSimulator

from portico.adapters.twilio import TwilioMessaging
from portico.adapters.vapi import VapiVoice
from portico.adapters.whatsapp import DIALOG360, WhatsAppMessaging
from portico.domain.errors import IntegrationError
from portico.domain.messaging import TemplateMessage, TextMessage
from portico.domain.values import PhoneNumber
from portico.domain.voice import CallRequest


PATIENT = PhoneNumber("+40712345678")
SECRETS = ("EAAG-leak-token", "d360-leak-key", "twilio-leak-token", "vapi-leak-key")
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"


async def _attempt(call: Any, seen: list[str]) -> None:
    """Run one port call; keep the str and repr of whatever it returned or raised."""
    try:
        result = await call
    except IntegrationError as err:
        seen.extend([str(err), repr(err), err.message])
    else:
        seen.extend([str(result), repr(result)])


async def test_no_token_or_full_number_in_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sends, lookups, calls and failures (bad keys, bad numbers, faults) leak nothing."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    wa = WhatsAppSimulator(token=SECRETS[0], api_key=SECRETS[1], enforce_window=True)
    other = PhoneNumber("+40787654321")
    tw = TwilioSimulator(auth_token=SECRETS[2], invalid_numbers={other.e164})
    tw_faults = FaultInjector(tw)
    va = VapiSimulator(api_key=SECRETS[3])
    clients = [
        httpx.AsyncClient(base_url=base, transport=httpx.ASGITransport(app=sim))
        for base, sim in (
            ("https://graph.facebook.com", wa),
            ("https://waba-v2.360dialog.io", wa),
            ("https://api.twilio.com", tw_faults),
            ("https://api.vapi.ai", va),
        )
    ]
    meta = WhatsAppMessaging(
        http=clients[0], credential=SECRETS[0], phone_number_id=wa.phone_number_id
    )
    d360 = WhatsAppMessaging(http=clients[1], credential=SECRETS[1], flavour=DIALOG360)
    bad_meta = WhatsAppMessaging(
        http=clients[0], credential="wrong-" + SECRETS[0], phone_number_id=wa.phone_number_id
    )
    sms = TwilioMessaging(
        http=clients[2],
        account_sid=tw.account_sid,
        auth_token=SECRETS[2],
        sender=PhoneNumber("+15017122661"),
    )
    voice = VapiVoice(http=clients[3], api_key=SECRETS[3], phone_number_id="pn-1")
    seen.extend(repr(adapter) for adapter in (meta, d360, sms, voice))
    try:
        await _attempt(meta.send(TextMessage(PATIENT, "Hello")), seen)  # 131047
        await _attempt(meta.send(TemplateMessage(PATIENT, "hello_world")), seen)
        await _attempt(d360.send(TemplateMessage(PATIENT, "hello_world")), seen)
        await _attempt(bad_meta.send(TemplateMessage(PATIENT, "hello_world")), seen)  # 190
        await _attempt(sms.send(TextMessage(PATIENT, "Your results are ready")), seen)
        await _attempt(sms.send(TextMessage(other, "Hello")), seen)  # 21211 quotes the number
        tw_faults.fail_next(429)
        await _attempt(sms.send(TextMessage(PATIENT, "Hello")), seen)
        tw.account_sid = "AC" + "f" * 32  # Twilio now refuses our credentials
        await _attempt(sms.send(TextMessage(PATIENT, "Hello")), seen)
        call = await voice.start_call(CallRequest(PATIENT, ASSISTANT))
        seen.append(repr(call))
        await _attempt(voice.end_call(call.id), seen)
        va.api_key = "rotated"
        await _attempt(voice.get_call(call.id), seen)
    finally:
        for client in clients:
            await client.aclose()
    seen.extend(record.getMessage() for record in caplog.records)
    assert any(record.name == "portico.http" for record in caplog.records)
    text = "\n".join(seen)
    for secret in SECRETS:
        assert secret not in text
    assert "[21211]" in text  # the vendor's refusal was seen, scrubbed
    for number in (PATIENT, other):
        assert number.digits not in text
        assert number.digits[2:] not in text  # not even without the country code
