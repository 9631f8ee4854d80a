"""Vapi as Portico's voice vendor: its settings, webhooks, default policy and `SPEC`."""

from __future__ import annotations

import attrs

from ...domain.time import Clock
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..http.client import build_client
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import BASE_URL, VapiVoice
from .parser import VapiParser
from .verifier import VapiWebhookVerifier


__all__ = ["SPEC", "VapiSettings", "VapiWebhookSettings"]


@attrs.frozen
class VapiSettings:
    """The ``vapi`` section."""

    api_key: str = setting("private API key", secret=True)
    phone_number_id: str = setting("id of the Vapi number calls are made from")
    base_url: str = setting("API base URL (a simulator's in tests)", default=BASE_URL)
    public_key: str | None = setting(
        "public API key sent to monitor.controlUrl when the assistant's "
        "monitorPlan.controlAuthenticationEnabled is on",
        default=None,
        secret=True,
    )


@attrs.frozen
class VapiWebhookSettings:
    """The ``webhooks.vapi`` section."""

    secret: str = setting("the server URL secret Vapi sends", secret=True)
    header: str = setting(
        "header carrying it (or Authorization, as a bearer)", default="X-Vapi-Secret"
    )


def build(settings: VapiSettings, context: BuildContext) -> VapiVoice:
    """The HTTP adapter."""
    return VapiVoice(
        http=build_client(settings.base_url),
        api_key=settings.api_key,
        phone_number_id=settings.phone_number_id,
        clock=context.clock,
        public_key=settings.public_key,
    )


def endpoint(settings: VapiWebhookSettings, clock: Clock) -> tuple[WebhookVerifier, WebhookParser]:
    """The shared-secret verifier and the server-message parser, both on ``clock``."""
    verifier = VapiWebhookVerifier(settings.secret, header=settings.header, clock=clock)
    return verifier, VapiParser(clock=clock)


SPEC = VendorSpec(
    name="vapi",
    port="voice",
    settings=VapiSettings,
    build=build,
    # Vapi publishes no number; kept modest.
    policy=ResiliencePolicy(rate=5.0, burst=5),
    summary="Vapi: outbound voice-agent calls (no published rate limit; 5/s kept)",
    webhook=WebhookSpec(
        provider="vapi",
        settings=VapiWebhookSettings,
        development={"secret": "portico-development-only"},
        endpoint=endpoint,
    ),
)
