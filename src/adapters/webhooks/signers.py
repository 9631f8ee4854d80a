"""
Sign deliveries exactly as each provider does: for tests, the demo and provider simulators.

Each helper returns the headers to send (a dict) for a given body; the body itself is sent as
is. They reuse the verifiers' own MAC builders, and the test suite pins those against the
providers' published vectors and official SDKs, so a signature made here is one the real
provider would make.

A timestamped scheme signs at ``timestamp`` when given, else at ``clock.now()`` (default: the
system clock): pass the test's `FakeClock` to sign at the time the verifiers will read.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence

from ...domain.time import SYSTEM_CLOCK, Clock
from ..hubspot import verifier as _hubspot
from ..stripe import verifier as _stripe
from ..twilio import verifier as _twilio
from ..vapi import verifier as _vapi
from ..whatsapp import verifier as _meta
from . import standard as _standard


__all__ = [
    "graph_change",
    "graph_lifecycle",
    "graph_notification",
    "sign_360dialog",
    "sign_hubspot_v1",
    "sign_hubspot_v2",
    "sign_hubspot_v3",
    "sign_meta",
    "sign_standard",
    "sign_stripe",
    "sign_twilio",
    "sign_twilio_json",
    "sign_vapi_hmac",
    "vapi_secret_headers",
]


def _now(clock: Clock) -> int:
    return int(clock.now().timestamp())


def sign_stripe(
    body: bytes,
    secrets: str | Sequence[str],
    *,
    timestamp: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, str]:
    """``Stripe-Signature`` with one ``v1`` per secret (several while rolling secrets)."""
    t = _now(clock) if timestamp is None else timestamp
    secrets = (secrets,) if isinstance(secrets, str) else secrets
    v1 = ",".join(f"v1={_stripe.stripe_signature(s, t, body)}" for s in secrets)
    return {"Stripe-Signature": f"t={t},{v1}"}


def sign_hubspot_v3(
    body: bytes,
    client_secret: str,
    *,
    url: str,
    method: str = "POST",
    timestamp_ms: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, str]:
    """``X-HubSpot-Signature-v3`` and ``X-HubSpot-Request-Timestamp`` (milliseconds)."""
    ts = str(_now(clock) * 1000 if timestamp_ms is None else timestamp_ms)
    signature = _hubspot.hubspot_v3_signature(client_secret, method.upper(), url, body, ts)
    return {_hubspot.V3_HEADER: signature, _hubspot.TIMESTAMP_HEADER: ts}


def sign_hubspot_v1(body: bytes, client_secret: str) -> dict[str, str]:
    """Legacy v1: hex SHA-256 of ``secret + body`` (CRM object subscriptions)."""
    signature = _hubspot.hubspot_legacy_signature(client_secret, "v1", "POST", "", body)
    return {_hubspot.LEGACY_HEADER: signature, _hubspot.VERSION_HEADER: "v1"}


def sign_hubspot_v2(
    body: bytes, client_secret: str, *, url: str, method: str = "POST"
) -> dict[str, str]:
    """Legacy v2: hex SHA-256 of ``secret + method + uri + body``."""
    signature = _hubspot.hubspot_legacy_signature(client_secret, "v2", method.upper(), url, body)
    return {_hubspot.LEGACY_HEADER: signature, _hubspot.VERSION_HEADER: "v2"}


def sign_meta(body: bytes, app_secret: str) -> dict[str, str]:
    """``X-Hub-Signature-256: sha256=<hex>``."""
    return {"X-Hub-Signature-256": "sha256=" + _meta.body_hmac_sha256_hex(app_secret, body)}


def sign_360dialog(body: bytes, platform_secret: str) -> dict[str, str]:
    """``x-360dialog-signature: <hex>`` (bare hex, the reading most integrations use)."""
    return {"x-360dialog-signature": _meta.body_hmac_sha256_hex(platform_secret, body)}


def sign_twilio(
    url: str,
    params: Iterable[tuple[str, str]],
    auth_token: str,
    *,
    algorithm: str = "HMAC_SHA1",
    shared_key_id: str | None = None,
) -> dict[str, str]:
    """``X-Twilio-Signature`` for a form webhook (send ``urlencode(params)`` as the body)."""
    headers = {
        _twilio.SIGNATURE_HEADER: _twilio.twilio_signature(auth_token, url, params, algorithm)
    }
    if shared_key_id is not None or algorithm != "HMAC_SHA1":
        key = f"key={shared_key_id}," if shared_key_id is not None else ""
        headers[_twilio.SETTINGS_HEADER] = f"{key}algorithm={algorithm}"
    return headers


def sign_twilio_json(url: str, body: bytes, auth_token: str) -> tuple[str, dict[str, str]]:
    """The URL Twilio calls for a JSON body (``bodySHA256`` appended) and its signature header."""
    separator = "&" if "?" in url else "?"
    signed_url = f"{url}{separator}bodySHA256={_twilio.twilio_body_hash(body)}"
    return signed_url, {_twilio.SIGNATURE_HEADER: _twilio.twilio_signature(auth_token, signed_url)}


def vapi_secret_headers(secret: str, *, header: str = "X-Vapi-Secret") -> dict[str, str]:
    """The static header a Vapi bearer credential sends (``Bearer`` for ``Authorization``)."""
    value = f"Bearer {secret}" if header.lower() == "authorization" else secret
    return {header: value}


def sign_vapi_hmac(
    body: bytes,
    secret: str,
    plan: _vapi.VapiHmacPlan | None = None,
    *,
    timestamp: int | None = None,
    method: str = "POST",
    url: str = "",
    message_id: str = "",
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, str]:
    """
    The headers a Vapi HMAC credential sends with ``plan`` (Vapi's defaults when None).

    Without a timestamp (message id) header the ``{timestamp}`` (``{svix-id}``) placeholder is
    empty, as the verifier reads it.
    """
    plan = plan or _vapi.VapiHmacPlan()
    ts = str(_now(clock) if timestamp is None else timestamp) if plan.timestamp_header else ""
    message_id = message_id if plan.message_id_header else ""
    signature = _vapi.vapi_hmac_signature(
        plan, secret, body, timestamp=ts, method=method.upper(), url=url, message_id=message_id
    )
    headers = {plan.signature_header: signature}
    if plan.timestamp_header is not None:
        headers[plan.timestamp_header] = ts
    if plan.message_id_header is not None:
        headers[plan.message_id_header] = message_id
    return headers


def sign_standard(
    body: bytes,
    secret: str | bytes,
    *,
    msg_id: str = "msg_portico_test",
    timestamp: int | None = None,
    prefix: str = "webhook",
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, str]:
    """``webhook-id``/``-timestamp``/``-signature`` (``prefix="svix"`` for Svix names)."""
    t = _now(clock) if timestamp is None else timestamp
    digest = _standard.standard_signature(_standard.decode_secret(secret), msg_id, t, body)
    return {
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(t),
        f"{prefix}-signature": "v1," + base64.b64encode(digest).decode(),
    }


def graph_change(
    resource: str,
    *,
    change_type: str = "created",
    subscription_id: str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
    tenant_id: str = "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    notification_id: str | None = None,
    resource_id: str | None = None,
    expires: str = "2026-12-05T10:00:00.0000000Z",
) -> dict[str, object]:
    """
    One Graph change notification (``clientState`` is added by `graph_notification`).

    ``resource_id`` (default: the last segment of ``resource``) goes to ``resourceData.id``;
    ``notification_id`` is the notification's optional ``id``.
    """
    item: dict[str, object] = {
        "subscriptionId": subscription_id,
        "subscriptionExpirationDateTime": expires,
        "changeType": change_type,
        "resource": resource,
        "tenantId": tenant_id,
        "resourceData": {"id": resource_id or resource.rsplit("/", 1)[-1]},
    }
    if notification_id is not None:
        item["id"] = notification_id
    return item


def graph_lifecycle(
    event: str,
    *,
    subscription_id: str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
    tenant_id: str = "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    expires: str = "2026-12-05T10:00:00.0000000Z",
) -> dict[str, object]:
    """One Graph lifecycle notification: ``reauthorizationRequired``, ``subscriptionRemoved``..."""
    return {
        "subscriptionId": subscription_id,
        "subscriptionExpirationDateTime": expires,
        "tenantId": tenant_id,
        "lifecycleEvent": event,
    }


def graph_notification(client_state: str, *notifications: Mapping[str, object]) -> bytes:
    """
    The body Graph POSTs: ``{"value": [...]}``, each notification carrying ``client_state``.

    Graph signs nothing; the ``clientState`` in every notification is what the verifier checks,
    so a body built here with the configured secret is one the ingress accepts.
    """
    value = [{**notification, "clientState": client_state} for notification in notifications]
    return json.dumps({"value": value}).encode()
