"""HubSpot as Portico's CRM vendor: its settings, webhooks, default policy and `SPEC`."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ...domain.errors import InvalidValue
from ...domain.time import Clock
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..oauth import HUBSPOT_TOKEN_URL, CachedTokenProvider, RefreshTokenGrant, token_store
from ..oauth.provider import DEFAULT_SKEW_SECONDS
from ..oauth.stores import TOKEN_STORE_KINDS
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import BASE_URL, OBJECTS_PATH, HubSpotCRM
from .parser import HubSpotParser
from .stages import HubSpotStages
from .verifier import HubSpotWebhookVerifier


__all__ = ["SPEC", "HubSpotSettings", "HubSpotWebhookSettings"]


@attrs.frozen
class HubSpotSettings:
    """
    The ``hubspot`` section: a private app's ``token``, or an OAuth app's ``client_id``,
    ``client_secret`` and ``refresh_token`` (access tokens are then renewed with it).
    """

    token: str | None = setting(
        "private app access token (or the OAuth app's three)", default=None, secret=True
    )
    client_id: str | None = setting(
        "OAuth app client id (with client_secret, refresh_token)", default=None
    )
    client_secret: str | None = setting("OAuth app client secret", default=None, secret=True)
    refresh_token: str | None = setting(
        "OAuth refresh token of the installed portal", default=None, secret=True
    )
    token_url: str = setting("OAuth token endpoint", default=HUBSPOT_TOKEN_URL)
    token_skew_seconds: float = setting(
        "renew an OAuth access token this long before it expires", default=DEFAULT_SKEW_SECONDS
    )
    token_store: str = setting(
        "where OAuth tokens are shared (redis: between processes)",
        default="memory",
        choices=TOKEN_STORE_KINDS,
    )
    token_store_url: str | None = setting(
        "Redis URL, for token_store redis", default=None, secret=True
    )
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
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        given = sum(value is not None for value in oauth)
        if self.token is None and given == 0:
            raise InvalidValue("token", "is required")
        if (self.token is not None and given) or given not in (0, len(oauth)):
            raise InvalidValue(
                "token",
                "give either token (a private app) or all of client_id, client_secret and "
                "refresh_token (an OAuth app), not both and not part",
            )
        if self.token_store == "redis" and self.token_store_url is None:  # noqa: S105 - a kind
            raise InvalidValue("token_store_url", "is required for token_store redis")

    @property
    def uses_oauth(self) -> bool:
        """Whether the adapter authenticates as an OAuth app (renewed access tokens)."""
        return self.token is None

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


def tokens(settings: HubSpotSettings, context: BuildContext) -> CachedTokenProvider:
    """The OAuth app's access tokens, cached, renewed once, shared through the token store."""
    grant = RefreshTokenGrant(
        integration="hubspot",
        token_url=settings.token_url,
        client_id=settings.client_id or "",
        client_secret=settings.client_secret or "",
        refresh_token=settings.refresh_token or "",
        clock=context.clock,
    )
    return CachedTokenProvider(
        grant,
        key=f"hubspot:{settings.client_id}",
        store=token_store(settings.token_store, settings.token_store_url, clock=context.clock),
        skew=settings.token_skew_seconds,
        clock=context.clock,
    )


def build(settings: HubSpotSettings, context: BuildContext) -> HubSpotCRM:
    """The HTTP adapter."""
    return HubSpotCRM.connect(
        settings.token,
        tokens=tokens(settings, context) if settings.uses_oauth else None,
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
