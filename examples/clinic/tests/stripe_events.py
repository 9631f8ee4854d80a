"""
Stripe deliveries as the clinic's tests send them, signed with Portico's development secret.

The signer and the secret come from `portico.testing`: `sign_stripe`, and the published
development secret (`DEV_SECRETS`) the fake environment serves Stripe with.
"""

from __future__ import annotations

import json
import time

from portico.testing import DEV_SECRETS, sign_stripe


# Published on purpose, accepted only in Portico's fake environment.
DEV_STRIPE_SECRET = DEV_SECRETS["stripe"]["secret"]


def payment_succeeded(intent_id: str, *, amount_minor: int, currency: str, event_id: str) -> bytes:
    """Stripe's ``payment_intent.succeeded`` event (API 2023-10-16) for ``intent_id``."""
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2023-10-16",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "livemode": False,
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount_minor,
                "amount_received": amount_minor,
                "currency": currency.lower(),
                "status": "succeeded",
            }
        },
    }
    return json.dumps(event).encode()


def signed(body: bytes, secret: str = DEV_STRIPE_SECRET) -> dict[str, str]:
    """The headers Stripe sends with ``body``: its signature, and the JSON content type."""
    return {**sign_stripe(body, secret), "content-type": "application/json"}
