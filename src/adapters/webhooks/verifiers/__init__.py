"""
Webhook signature verifiers, one per scheme; each implements `ports.webhooks.WebhookVerifier`.

Shared rules: the MAC is computed over the exact body bytes and compared in constant time; a
signature header sent twice is refused (`MalformedWebhook`); signed timestamps are checked in
both directions after the signature; URL-signing schemes accept a ``public_base_url`` and name
the URL they used when a signature does not match. `adapters.webhooks.verifiers.testing` signs
deliveries the way each provider does.
"""

from adapters.webhooks.verifiers.hubspot import HubSpotWebhookVerifier
from adapters.webhooks.verifiers.meta import Dialog360WebhookVerifier, MetaWebhookVerifier
from adapters.webhooks.verifiers.standard import StandardWebhookVerifier
from adapters.webhooks.verifiers.stripe import StripeWebhookVerifier
from adapters.webhooks.verifiers.twilio import TwilioWebhookVerifier
from adapters.webhooks.verifiers.vapi import VapiHmacPlan, VapiWebhookVerifier


__all__ = [
    "Dialog360WebhookVerifier",
    "HubSpotWebhookVerifier",
    "MetaWebhookVerifier",
    "StandardWebhookVerifier",
    "StripeWebhookVerifier",
    "TwilioWebhookVerifier",
    "VapiHmacPlan",
    "VapiWebhookVerifier",
]
