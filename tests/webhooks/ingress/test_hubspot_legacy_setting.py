"""``webhooks.hubspot.allow_legacy``: v1 deliveries accepted by default, refusable by config."""

from __future__ import annotations

import json

import pytest

from portico.adapters.webhooks.signers import sign_hubspot_v1
from portico.app.wiring.webhooks import DEV_SECRETS, build_webhook_ingress
from portico.domain.errors import ConfigurationError
from portico.domain.webhooks import WebhookRequest


BODY = json.dumps(
    [
        {
            "eventId": 7,
            "subscriptionId": 12345,
            "portalId": 62515,
            "occurredAt": 1564113600000,
            "subscriptionType": "contact.creation",
            "attemptNumber": 0,
            "objectId": 123,
            "changeSource": "CRM",
        }
    ]
).encode()


def _v1_delivery() -> WebhookRequest:
    headers = sign_hubspot_v1(BODY, DEV_SECRETS["hubspot"]["client_secret"])
    return WebhookRequest("POST", "https://hooks.example.org/webhooks/hubspot", headers, BODY)


def _config(**hubspot: object) -> dict[str, object]:
    return {"webhooks": {"replay": "memory", "hubspot": hubspot}}


async def test_v1_crm_subscription_delivery_is_accepted_by_default() -> None:
    """Without the setting, a v1-signed CRM subscription delivery is processed (200)."""
    ingress = build_webhook_ingress(_config())
    response = await ingress.handle("hubspot", _v1_delivery())
    assert response.status == 200


@pytest.mark.parametrize("value", [False, "false", "0", "no"])
async def test_allow_legacy_false_refuses_v1(value: object) -> None:
    """allow_legacy false (YAML bool or variable string) answers a v1 delivery 401."""
    ingress = build_webhook_ingress(_config(allow_legacy=value))
    response = await ingress.handle("hubspot", _v1_delivery())
    assert response.status == 401
    assert "legacy" in str(response.body)


@pytest.mark.parametrize("value", [True, "true", "1", "on"])
async def test_allow_legacy_true_accepts_v1(value: object) -> None:
    """allow_legacy true in any spelling keeps v1 accepted."""
    ingress = build_webhook_ingress(_config(allow_legacy=value))
    assert (await ingress.handle("hubspot", _v1_delivery())).status == 200


def test_allow_legacy_that_is_not_a_boolean_names_the_setting() -> None:
    """A value that is not true or false is a ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError, match=r"webhooks\.hubspot\.allow_legacy"):
        build_webhook_ingress(_config(allow_legacy="sometimes"))
