"""Fuzz: whatever the body, a parser returns a ParsedDelivery or raises MalformedWebhook."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.parsers import payloads as p

from portico.adapters.hubspot.parser import HubSpotParser
from portico.adapters.stripe.parser import StripeParser
from portico.adapters.twilio.parser import TwilioParser
from portico.adapters.vapi.parser import VapiParser
from portico.adapters.whatsapp.parser import WhatsAppParser
from portico.domain.errors import MalformedWebhook
from portico.domain.webhooks import ParsedDelivery
from portico.ports.webhooks import WebhookParser


JSON_PARSERS: dict[str, tuple[WebhookParser, Any]] = {
    "stripe": (StripeParser(), p.stripe_event("payment_intent.succeeded", p.PAYMENT_INTENT)),
    "stripe-refund": (StripeParser(), p.stripe_event("refund.created", p.REFUND)),
    "stripe-checkout": (
        StripeParser(),
        p.stripe_event("checkout.session.completed", p.CHECKOUT_SESSION),
    ),
    "whatsapp": (WhatsAppParser(), p.WHATSAPP_TEXT),
    "whatsapp-statuses": (WhatsAppParser(), p.WHATSAPP_STATUSES),
    "hubspot": (HubSpotParser(), p.HUBSPOT_BATCH),
    "vapi-status": (VapiParser(), p.VAPI_STATUS),
    "vapi-report": (VapiParser(), p.VAPI_REPORT),
}
ALL_PARSERS = [StripeParser(), WhatsAppParser(), HubSpotParser(), VapiParser(), TwilioParser()]

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "0", "-1", "1e400", "16505551234", "+40700000000", "usd", "nan"])
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _outcome(parser: WebhookParser, body: bytes) -> None:
    try:
        result = parser.parse(p.request(body))
    except MalformedWebhook as err:
        reason = err.reason
    else:
        assert isinstance(result, ParsedDelivery)
        return
    assert reason


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, payload: Any) -> bytes:
    """The realistic payload with a few nodes replaced by arbitrary JSON or removed."""
    doc = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            doc = draw(json_values)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
        if not isinstance(doc, dict | list):
            break
    return json.dumps(doc).encode()


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda x: type(x).__name__)
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes(parser: WebhookParser, body: bytes) -> None:
    """Random bytes never raise anything but MalformedWebhook."""
    _outcome(parser, body)


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda x: type(x).__name__)
@given(value=json_values)
def test_arbitrary_json(parser: WebhookParser, value: Any) -> None:
    """Arbitrary JSON documents never raise anything but MalformedWebhook."""
    _outcome(parser, json.dumps(value).encode())


@pytest.mark.parametrize("name", sorted(JSON_PARSERS))
@given(data=st.data())
def test_mutated_realistic_payloads(name: str, data: st.DataObject) -> None:
    """Realistic payloads with fields removed or retyped parse or are MalformedWebhook."""
    parser, payload = JSON_PARSERS[name]
    _outcome(parser, data.draw(mutated(payload)))


@given(
    form=st.dictionaries(
        st.sampled_from(
            [
                "MessageSid",
                "SmsSid",
                "MessageStatus",
                "SmsStatus",
                "From",
                "Body",
                "NumMedia",
                "ErrorCode",
                "ProfileName",
                "x",
            ]
        ),
        st.text(max_size=20) | st.sampled_from(["received", "sent", "+14155552671", "3"]),
    )
)
def test_twilio_arbitrary_forms(form: dict[str, str]) -> None:
    """Arbitrary Twilio-like forms never raise anything but MalformedWebhook."""
    _outcome(TwilioParser(), urlencode(form).encode())
