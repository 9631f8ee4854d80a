"""Realistic webhook bodies, shaped after the vendors' documentation examples."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from portico.domain.webhooks import WebhookRequest


def request(body: Any, *, form: bool = False) -> WebhookRequest:
    """A POST carrying ``body`` (JSON-encoded unless bytes, str or a form)."""
    if form:
        raw = urlencode(body).encode()
    elif isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = json.dumps(body).encode()
    return WebhookRequest("POST", "https://hooks.example.com/webhooks/x", {}, raw)


# Meta's "messages" example (WhatsApp Cloud API webhooks reference).
WHATSAPP_TEXT: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "contacts": [
                            {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
                        ],
                        "messages": [
                            {
                                "from": "16505551234",
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTA=",
                                "timestamp": "1749416383",
                                "type": "text",
                                "text": {"body": "Does it come in another color?"},
                            }
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}

# Meta's status example, with a failed status carrying errors[].
WHATSAPP_STATUSES: dict[str, Any] = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "statuses": [
                            {
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA",
                                "status": "delivered",
                                "timestamp": "1750263773",
                                "recipient_id": "16505551234",
                                "conversation": {
                                    "id": "4fdcb9d4a8e0c1b2",
                                    "origin": {"type": "marketing"},
                                },
                                "pricing": {
                                    "billable": True,
                                    "pricing_model": "PMP",
                                    "category": "marketing",
                                },
                            },
                            {
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
                                "status": "failed",
                                "timestamp": "1750263774",
                                "recipient_id": "16505551234",
                                "errors": [
                                    {
                                        "code": 131047,
                                        "title": "Re-engagement message",
                                        "message": "Re-engagement message",
                                        "error_data": {"details": "Message failed to send."},
                                    }
                                ],
                            },
                        ],
                    },
                    "field": "messages",
                }
            ],
        }
    ],
}

# Twilio status callback (Messaging "Track the Message Status" docs) and an inbound SMS.
TWILIO_STATUS: dict[str, Any] = {
    "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "From": "+15017122661",
    "MessageSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "MessageStatus": "undelivered",
    "SmsSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "SmsStatus": "undelivered",
    "ErrorCode": "30003",
    "To": "+15558675310",
    "ApiVersion": "2010-04-01",
}
TWILIO_INBOUND: dict[str, Any] = {
    "ToCountry": "US",
    "ToState": "CA",
    "SmsMessageSid": "SM1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d",
    "NumMedia": "0",
    "ToCity": "SAN FRANCISCO",
    "FromZip": "94105",
    "SmsSid": "SM1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d",
    "FromState": "CA",
    "SmsStatus": "received",
    "FromCity": "SAN FRANCISCO",
    "Body": "Can I move my appointment to Friday?",
    "FromCountry": "US",
    "To": "+15558675310",
    "MessagingServiceSid": "MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "ToZip": "94105",
    "NumSegments": "1",
    "MessageSid": "SM1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d",
    "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "From": "+14155552671",
    "ApiVersion": "2010-04-01",
}


def stripe_event(
    event_type: str, obj: dict[str, Any], event_id: str = "evt_1NG8Du2eZvKYlo2CUI79vXWy"
) -> dict[str, Any]:
    """Stripe's event envelope (API 2023-10-16) around ``obj``."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2023-10-16",
        "created": 1686089970,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


PAYMENT_INTENT: dict[str, Any] = {
    "id": "pi_3NG8Dt2eZvKYlo2C0RzGvKqT",
    "object": "payment_intent",
    "amount": 15000,
    "amount_received": 15000,
    "currency": "ron",
    "status": "succeeded",
    "metadata": {"patient_ref": "pt_42"},
    "last_payment_error": None,
}
FAILED_INTENT: dict[str, Any] = {
    **PAYMENT_INTENT,
    "amount_received": 0,
    "status": "requires_payment_method",
    "last_payment_error": {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "type": "card_error",
    },
}
REFUND: dict[str, Any] = {
    "id": "re_3NG8Dt2eZvKYlo2C0rTg4Qe1",
    "object": "refund",
    "amount": 5000,
    "charge": "ch_3NG8Dt2eZvKYlo2C0vWHEbVy",
    "currency": "ron",
    "payment_intent": "pi_3NG8Dt2eZvKYlo2C0RzGvKqT",
    "status": "succeeded",
}
CHARGE_REFUNDED: dict[str, Any] = {
    "id": "ch_3NG8Dt2eZvKYlo2C0vWHEbVy",
    "object": "charge",
    "amount": 15000,
    "amount_refunded": 15000,
    "currency": "ron",
    "payment_intent": "pi_3NG8Dt2eZvKYlo2C0RzGvKqT",
    "refunded": True,
    "refunds": {"object": "list", "data": [{"id": "re_3NG8Dt2eZvKYlo2C0rTg4Qe1"}]},
}
CHECKOUT_SESSION: dict[str, Any] = {
    "id": "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY",
    "object": "checkout.session",
    "amount_total": 2000,
    "currency": "eur",
    "client_reference_id": None,
    "metadata": {"patient_ref": "pt_7"},
    "mode": "payment",
    "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    "payment_status": "paid",
    "status": "complete",
}

# HubSpot's documented batch shape: several events in one delivery.
HUBSPOT_BATCH: list[dict[str, Any]] = [
    {
        "eventId": 1,
        "subscriptionId": 12345,
        "portalId": 62515,
        "occurredAt": 1564113600000,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
        "changeFlag": "NEW",
        "appId": 54321,
    },
    {
        "eventId": 2,
        "subscriptionId": 12346,
        "portalId": 62515,
        "occurredAt": 1564113600500,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "propertyName": "lifecyclestage",
        "propertyValue": "marketingqualifiedlead",
        "changeSource": "CRM_UI",
        "sourceId": "userId:12345",
        "appId": 54321,
    },
    {
        "eventId": 3,
        "subscriptionId": 12347,
        "portalId": 62515,
        "occurredAt": 1564113601000,
        "subscriptionType": "deal.creation",
        "attemptNumber": 0,
        "objectId": 999,
        "changeSource": "CRM",
        "appId": 54321,
    },
    {
        "eventId": 4,
        "subscriptionId": 12348,
        "portalId": 62515,
        "occurredAt": 1564113602000,
        "subscriptionType": "contact.deletion",
        "attemptNumber": 1,
        "objectId": 124,
        "changeSource": "CRM",
        "appId": 54321,
    },
]

# Vapi server messages (docs.vapi.ai server-url events).
VAPI_STATUS: dict[str, Any] = {
    "message": {
        "timestamp": 1723595486000,
        "type": "status-update",
        "status": "ended",
        "endedReason": "customer-ended-call",
        "call": {
            "id": "0f5a5a0c-7f2d-4b1e-9c3a-2e7d1c0a9b11",
            "orgId": "org-1",
            "type": "outboundPhoneCall",
        },
    }
}
VAPI_REPORT: dict[str, Any] = {
    "message": {
        "timestamp": 1723595490000,
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "call": {"id": "0f5a5a0c-7f2d-4b1e-9c3a-2e7d1c0a9b11"},
        "startedAt": "2024-08-14T00:30:01.123Z",
        "endedAt": "2024-08-14T00:31:27.623Z",
        "cost": 0.12,
        "artifact": {
            "transcript": "AI: Hello, this is the clinic.\nUser: Hi, I'd like to confirm Friday.",
            "messages": [],
            "recordingUrl": "https://storage.vapi.ai/0f5a5a0c-mono.wav",
            "recording": {"mono": {"combinedUrl": "https://storage.vapi.ai/0f5a5a0c-mono.wav"}},
        },
        "analysis": {
            "summary": "The patient confirmed the Friday appointment.",
            "successEvaluation": "true",
        },
    }
}
