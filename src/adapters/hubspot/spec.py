"""HubSpot as Portico's CRM vendor: its settings, webhooks, default policy and `SPEC`."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ...domain.time import Clock
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import BASE_URL, OBJECTS_PATH, HubSpotCRM
from .parser import HubSpotParser
from .stages import HubSpotStages
from .verifier import HubSpotWebhookVerifier


__all__ = ["SPEC", "HubSpotSettings", "HubSpotWebhookSettings"]


@attrs.frozen
class HubSpotSettings:
    """The ``hubspot`` section."""

    token: str = setting("private app access token", secret=True)
    base_url: str = setting("API base URL (a simulator's in tests)", default=BASE_URL)
    objects_path: str = setting("CRM objects API prefix", default=OBJECTS_PATH)
    default_currency: str = setting("currency of deals stored without one", default="EUR")
    phone_id_property: str | None = setting(
        "unique-value contact property holding the E.164 phone (idempotent phone-only upserts)",
        default=None,
    )
    deal_stages: Mapping[str, str] = setting(
        "domain deal stage (open, won, lost) -> this portal's stage id", default={}
    )
    lifecycle_stages: Mapping[str, str] = setting(
        "domain lifecycle stage -> this portal's internal value", default={}
    )

    def __attrs_post_init__(self) -> None:
        self.stages()  # a bad stage name or a shared value is refused with the settings

    def stages(self) -> HubSpotStages:
        """The portal's spelling of the domain's stages (HubSpot's defaults where not given)."""
        return HubSpotStages.from_config(
            lifecycle_stages=self.lifecycle_stages, deal_stages=self.deal_stages
        )


@attrs.frozen
class HubSpotWebhookSettings:
    """The ``webhooks.hubspot`` section."""

    client_secret: str = setting("the app's client secret (signs v1, v2 and v3)", secret=True)
    allow_legacy: bool = setting(
        "accept v1 signatures (no timestamp: replayable after the replay store's retention)",
        default=True,
    )


def build(settings: HubSpotSettings, context: BuildContext) -> HubSpotCRM:
    """The HTTP adapter."""
    return HubSpotCRM.connect(
        settings.token,
        base_url=settings.base_url,
        objects_path=settings.objects_path,
        default_currency=settings.default_currency,
        phone_id_property=settings.phone_id_property,
        stages=settings.stages(),
        clock=context.clock,
        rate_feedback=context.rate_feedback,
    )


def endpoint(
    settings: HubSpotWebhookSettings, clock: Clock
) -> tuple[WebhookVerifier, WebhookParser]:
    """The verifier (v3, and v1/v2 unless refused; v3's window on ``clock``) and the parser."""
    verifier = HubSpotWebhookVerifier(
        settings.client_secret, allow_legacy=settings.allow_legacy, clock=clock
    )
    return verifier, HubSpotParser()


SPEC = VendorSpec(
    name="hubspot",
    port="crm",
    settings=HubSpotSettings,
    build=build,
    # Private apps: 100 requests per 10 s; burst + 9/s * 10 s stays at the limit.
    policy=ResiliencePolicy(rate=9.0, burst=10),
    summary="HubSpot: CRM v3 contacts, deals and notes (private apps: 100 req / 10 s)",
    webhook=WebhookSpec(
        provider="hubspot",
        settings=HubSpotWebhookSettings,
        development={"client_secret": "portico-development-only"},
        endpoint=endpoint,
    ),
)
