"""
WhatsApp as a Portico messaging vendor, two ways: Meta's Cloud API (`SPEC`) and 360dialog
(`DIALOG360_SPEC`, the same Cloud API JSON behind 360dialog's key and host).
"""

from __future__ import annotations

import attrs

from ...domain.time import Clock
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..http.client import build_client
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import WhatsAppMessaging
from .flavours import DEFAULT_GRAPH_VERSION, DIALOG360, meta_cloud
from .parser import WhatsAppParser
from .verifier import Dialog360WebhookVerifier, MetaWebhookVerifier


__all__ = [
    "DIALOG360_SPEC",
    "SPEC",
    "Dialog360Settings",
    "Dialog360WebhookSettings",
    "WhatsAppSettings",
    "WhatsAppWebhookSettings",
]


@attrs.frozen
class WhatsAppSettings:
    """The ``whatsapp`` section (Meta's Cloud API)."""

    token: str = setting("system-user access token", secret=True)
    phone_number_id: str = setting("Meta's id of the sending number")
    graph_version: str = setting("Graph API version", default=DEFAULT_GRAPH_VERSION)
    base_url: str | None = setting("API base URL (default: the Graph API's)", default=None)


@attrs.frozen
class WhatsAppWebhookSettings:
    """The ``webhooks.whatsapp`` section."""

    app_secret: str = setting("the Meta app's secret (X-Hub-Signature-256)", secret=True)
    verify_token: str | None = setting(
        "token Meta echoes in the subscription handshake", default=None, secret=True
    )


@attrs.frozen
class Dialog360Settings:
    """The ``360dialog`` section (flat variables: ``PORTICO_D360_*``)."""

    api_key: str = setting("D360-API-KEY of the channel", secret=True)
    base_url: str = setting("API base URL", default=DIALOG360.base_url)


@attrs.frozen
class Dialog360WebhookSettings:
    """The ``webhooks.360dialog`` section."""

    platform_secret: str = setting("partner platform secret (x-360dialog-signature)", secret=True)


def build(settings: WhatsAppSettings, context: BuildContext) -> WhatsAppMessaging:
    """The Cloud API adapter, keeping statuses in the shared status store."""
    flavour = meta_cloud(settings.graph_version)
    return WhatsAppMessaging(
        http=build_client(settings.base_url or flavour.base_url),
        credential=settings.token,
        flavour=flavour,
        phone_number_id=settings.phone_number_id,
        status_log=context.status_store(),
    )


def build_360dialog(settings: Dialog360Settings, context: BuildContext) -> WhatsAppMessaging:
    """The 360dialog adapter, keeping statuses in the shared status store."""
    return WhatsAppMessaging(
        http=build_client(settings.base_url),
        credential=settings.api_key,
        flavour=DIALOG360,
        status_log=context.status_store(),
    )


def endpoint(
    settings: WhatsAppWebhookSettings, clock: Clock
) -> tuple[WebhookVerifier, WebhookParser]:
    """
    Meta's signature verifier (and handshake token) and the Cloud API parser. The signature has
    no timestamp; the parser stamps only ``value.errors`` (which carry no time) with ``clock``.
    """
    verifier = MetaWebhookVerifier(settings.app_secret, verify_token=settings.verify_token)
    return verifier, WhatsAppParser(clock=clock)


def endpoint_360dialog(
    settings: Dialog360WebhookSettings, clock: Clock
) -> tuple[WebhookVerifier, WebhookParser]:
    """The partner HMAC verifier and the same Cloud API parser, naming 360dialog."""
    return Dialog360WebhookVerifier(settings.platform_secret), WhatsAppParser(
        "360dialog", clock=clock
    )


SPEC = VendorSpec(
    name="whatsapp",
    port="messaging",
    settings=WhatsAppSettings,
    build=build,
    # Cloud API: about 80 messages per second per number.
    policy=ResiliencePolicy(rate=70.0, burst=10),
    summary="WhatsApp Cloud API (Meta): about 80 messages/s per number",
    webhook=WebhookSpec(
        provider="whatsapp",
        settings=WhatsAppWebhookSettings,
        development={"app_secret": "portico-development-only", "verify_token": "portico-dev-token"},
        endpoint=endpoint,
    ),
)

DIALOG360_SPEC = VendorSpec(
    name="360dialog",
    port="messaging",
    settings=Dialog360Settings,
    build=build_360dialog,
    # 360dialog hosts numbers on the Cloud API and publishes the same ceiling (80 messages/s).
    policy=ResiliencePolicy(rate=70.0, burst=10),
    summary="WhatsApp through 360dialog (Cloud API hosting: up to 80 messages/s)",
    aliases=("d360",),
    webhook=WebhookSpec(
        provider="360dialog",
        settings=Dialog360WebhookSettings,
        development={"platform_secret": "portico-development-only"},
        endpoint=endpoint_360dialog,
    ),
)
