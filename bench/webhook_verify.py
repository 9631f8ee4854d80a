"""
Webhook verification throughput, ours vs the official SDKs, on a 2 KB JSON body.

Run: ``.venv/bin/python bench/webhook_verify.py`` (about half a minute). Prints the machine, the
versions, microseconds per call (best of 5 repeats) and ours/theirs ratios (< 1: ours faster).
"""

from __future__ import annotations

import json
import os
import platform
import time
import timeit
from collections.abc import Callable
from importlib.metadata import version
from urllib.parse import urlencode

import stripe
from hubspot.utils.signature import Signature
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator

from portico.adapters.hubspot.verifier import HubSpotWebhookVerifier
from portico.adapters.stripe.verifier import StripeWebhookVerifier
from portico.adapters.twilio.verifier import TwilioWebhookVerifier
from portico.adapters.vapi.verifier import VapiHmacPlan, VapiWebhookVerifier
from portico.adapters.webhooks import signers as signing
from portico.adapters.webhooks.standard import StandardWebhookVerifier
from portico.adapters.whatsapp.verifier import MetaWebhookVerifier
from portico.domain.webhooks import WebhookRequest


URL = "https://api.example.com/webhooks/provider?tenant=a"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def body_2kb() -> bytes:
    """Compact JSON of exactly 2048 bytes."""
    pad = 2048 - len(
        json.dumps(
            {"id": "evt_1", "type": "payment_intent.succeeded", "pad": ""}, separators=(",", ":")
        )
    )
    data = {"id": "evt_1", "type": "payment_intent.succeeded", "pad": "x" * pad}
    raw = json.dumps(data, separators=(",", ":")).encode()
    assert len(raw) == 2048
    return raw


def per_call_us(fn: Callable[[], object]) -> float:
    """Best of 5 repeats, microseconds per call."""
    number, _ = timeit.Timer(fn).autorange()
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    """Measure and print."""
    body = body_2kb()
    text = body.decode()
    now = int(time.time())
    rows: list[tuple[str, Callable[[], object], Callable[[], object] | None, str]] = []

    stripe_headers = signing.sign_stripe(body, "whsec_x", timestamp=now)
    ours_stripe = StripeWebhookVerifier("whsec_x")
    stripe_req = WebhookRequest("POST", URL, stripe_headers, body)
    sig = stripe_headers["Stripe-Signature"]
    rows.append(
        (
            "stripe",
            lambda: ours_stripe.verify(stripe_req),
            lambda: stripe.WebhookSignature.verify_header(body, sig, "whsec_x", 300),
            "WebhookSignature.verify_header",
        )
    )
    rows.append(
        (
            "stripe",
            lambda: ours_stripe.verify(stripe_req),
            lambda: stripe.Webhook.construct_event(body, sig, "whsec_x"),
            "Webhook.construct_event (+json, Event)",
        )
    )

    hs_headers = signing.sign_hubspot_v3(body, "secret", url=URL, timestamp_ms=now * 1000)
    hs_req = WebhookRequest("POST", URL, hs_headers, body)
    ours_hs = HubSpotWebhookVerifier("secret")
    rows.append(
        (
            "hubspot v3",
            lambda: ours_hs.verify(hs_req),
            lambda: Signature.is_valid(
                hs_headers["X-HubSpot-Signature-v3"],
                "secret",
                text,
                URL,
                "POST",
                "v3",
                hs_headers["X-HubSpot-Request-Timestamp"],
            ),
            "Signature.is_valid(v3)",
        )
    )

    meta_req = WebhookRequest("POST", URL, signing.sign_meta(body, "secret"), body)
    ours_meta = MetaWebhookVerifier("secret")
    rows.append(("meta", lambda: ours_meta.verify(meta_req), None, "(no Python SDK)"))

    tw_url, tw_headers = signing.sign_twilio_json(URL, body, "token")
    tw_req = WebhookRequest("POST", tw_url, tw_headers, body)
    ours_tw = TwilioWebhookVerifier("token")
    validator = RequestValidator("token")
    tw_sig = tw_headers["X-Twilio-Signature"]
    rows.append(
        (
            "twilio json",
            lambda: ours_tw.verify(tw_req),
            lambda: validator.validate(tw_url, text, tw_sig),
            "RequestValidator.validate",
        )
    )
    params = [(f"Param{i:02d}", "v" * 40) for i in range(40)]
    form = urlencode(params).encode()
    form_sig = signing.sign_twilio(URL, params, "token")
    form_req = WebhookRequest("POST", URL, form_sig, form)
    rows.append(
        (
            "twilio form 40 params",
            lambda: ours_tw.verify(form_req),
            lambda: validator.validate(URL, dict(params), form_sig["X-Twilio-Signature"]),
            "RequestValidator.validate",
        )
    )

    vapi_req = WebhookRequest("POST", URL, signing.vapi_secret_headers("secret"), body)
    ours_vapi = VapiWebhookVerifier("secret")
    rows.append(("vapi secret", lambda: ours_vapi.verify(vapi_req), None, "(no SDK)"))
    plan = VapiHmacPlan()
    vapi_h = WebhookRequest("POST", URL, signing.sign_vapi_hmac(body, "secret", plan), body)
    ours_vapi_h = VapiWebhookVerifier("secret", hmac_plan=plan)
    rows.append(("vapi hmac", lambda: ours_vapi_h.verify(vapi_h), None, "(no SDK)"))

    sw_headers = signing.sign_standard(body, WHSEC, timestamp=now)
    sw_req = WebhookRequest("POST", URL, sw_headers, body)
    ours_sw = StandardWebhookVerifier(WHSEC)
    sdk_sw = Webhook(WHSEC)
    rows.append(
        (
            "standard webhooks",
            lambda: ours_sw.verify(sw_req),
            lambda: sdk_sw.verify(body, sw_headers, json_parse=False),
            "Webhook.verify(json_parse=False)",
        )
    )

    print(
        f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
        f"python {platform.python_version()} {platform.platform()}"
    )
    for package in ("stripe", "twilio", "hubspot-api-client", "standardwebhooks"):
        print(f"  {package}=={version(package)}")
    print(f"body: {len(body)} bytes of compact JSON; µs per call, best of 5")
    print(f"{'scheme':<24}{'ours':>9}{'theirs':>9}{'ratio':>8}  sdk call")
    for name, ours_fn, theirs_fn, label in rows:
        ours_us = per_call_us(ours_fn)
        if theirs_fn is None:
            print(f"{name:<24}{ours_us:9.2f}{'-':>9}{'-':>8}  {label}")
            continue
        theirs_us = per_call_us(theirs_fn)
        print(f"{name:<24}{ours_us:9.2f}{theirs_us:9.2f}{ours_us / theirs_us:8.2f}  {label}")


if __name__ == "__main__":
    main()
