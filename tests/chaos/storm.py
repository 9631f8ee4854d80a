"""
A webhook storm as a provider (and an attacker) would send it: Stripe deliveries, seeded.

`plan_storm` mixes valid first deliveries, redeliveries of them (duplicates), forgeries (signed
with the wrong secret, or a genuine signature over a tampered body) and malformed bodies signed
correctly, shuffled. The chaos test sends it to a real server; ``bench/webhook_ingress.py``
reuses `payment_body` and the same signing for its payloads.
"""

from __future__ import annotations

import json
import random
import time

import attrs

from portico.adapters.webhooks.signers import sign_stripe


__all__ = ["Delivery", "payment_body", "plan_storm"]


@attrs.frozen
class Delivery:
    """One POST: ``kind`` says what the ingress must do with it."""

    kind: str  # "valid" | "duplicate" | "forged" | "tampered" | "malformed"
    event_id: str
    body: bytes = attrs.field(repr=False)
    headers: dict[str, str] = attrs.field(repr=False)


def amount_of(n: int) -> int:
    """The amount (minor units) of event ``n``, so a tampered amount is recognisable."""
    return 5000 + n


def payment_body(event_id: str, n: int) -> bytes:
    """A ``payment_intent.succeeded`` event as Stripe sends it (API 2023-10-16 envelope)."""
    intent = {
        "id": f"pi_storm{n:08d}",
        "object": "payment_intent",
        "amount": amount_of(n),
        "amount_received": amount_of(n),
        "currency": "eur",
        "status": "succeeded",
        "metadata": {"patient_ref": f"pt_{n % 997}"},
        "last_payment_error": None,
    }
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2023-10-16",
        "created": 1_700_000_000 + n,
        "data": {"object": intent},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
    }
    return json.dumps(event, separators=(",", ":")).encode()


def plan_storm(
    total: int,
    *,
    secret: str,
    seed: int,
    duplicates: float = 1 / 3,
    forged: float = 0.05,
    malformed: float = 0.01,
) -> list[Delivery]:
    """
    ``total`` deliveries: the given shares of duplicates, forgeries and malformed bodies, the
    rest valid first deliveries of distinct events; shuffled with ``seed``.
    """
    rng = random.Random(seed)
    now = int(time.time())
    n_dup, n_forged, n_bad = (
        round(total * duplicates),
        round(total * forged),
        round(total * malformed),
    )
    n_valid = total - n_dup - n_forged - n_bad
    out: list[Delivery] = []
    for n in range(n_valid):
        event_id = f"evt_storm{seed:04d}{n:08d}"
        body = payment_body(event_id, n)
        out.append(Delivery("valid", event_id, body, sign_stripe(body, secret, timestamp=now)))
    originals = list(out)
    out.extend(attrs.evolve(rng.choice(originals), kind="duplicate") for _ in range(n_dup))
    for i in range(n_forged):
        if i % 2:  # an attacker's own event, signed with a guessed secret
            event_id = f"evt_forged{seed:04d}{i:08d}"
            body = payment_body(event_id, 10_000_000 + i)
            headers = sign_stripe(body, "whsec_guessed", timestamp=now)
            out.append(Delivery("forged", event_id, body, headers))
        else:  # a genuine delivery with its amount raised, replaying the genuine signature
            genuine = rng.choice(originals)
            body = genuine.body.replace(b'"amount":', b'"amount":9', 1)
            out.append(Delivery("tampered", genuine.event_id, body, genuine.headers))
    for i in range(n_bad):
        event_id = f"evt_bad{seed:04d}{i:08d}"
        body = payment_body(event_id, i)[: 40 + i % 50]  # truncated JSON
        out.append(Delivery("malformed", event_id, body, sign_stripe(body, secret, timestamp=now)))
    rng.shuffle(out)
    return out
