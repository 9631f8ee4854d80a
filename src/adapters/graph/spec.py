"""Microsoft Graph as Portico's email vendor: its settings, default policy and `SPEC`."""

from __future__ import annotations

import attrs

from ...domain.errors import InvalidValue
from ...domain.time import Clock
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..http.client import build_client
from ..oauth import CachedTokenProvider, ClientCredentialsGrant, microsoft_token_url, token_store
from ..oauth.grants import GRAPH_SCOPE
from ..oauth.provider import DEFAULT_SKEW_SECONDS
from ..oauth.stores import TOKEN_STORE_KINDS
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import BASE_URL, INTEGRATION, GraphEmail
from .parser import GraphNotificationParser
from .verifier import GraphNotificationVerifier, check_client_state


__all__ = ["SPEC", "GraphSettings", "GraphWebhookSettings"]

AUTHORITY = "https://login.microsoftonline.com"


@attrs.frozen
class GraphSettings:
    """The ``graph`` section: an app registration with the ``Mail.Send`` application permission."""

    tenant_id: str = setting("directory (tenant) id or domain")
    client_id: str = setting("application (client) id")
    client_secret: str = setting("client secret", secret=True)
    base_url: str = setting("Graph base URL (a simulator's in tests)", default=BASE_URL)
    authority: str = setting("identity platform host (token endpoint)", default=AUTHORITY)
    scope: str = setting("token scope", default=GRAPH_SCOPE)
    save_to_sent_items: bool = setting("keep a copy in the mailbox's Sent Items", default=True)
    token_skew_seconds: float = setting(
        "renew the access token this long before it expires", default=DEFAULT_SKEW_SECONDS
    )
    token_store: str = setting(
        "where tokens are shared (redis: between processes)",
        default="memory",
        choices=TOKEN_STORE_KINDS,
    )
    token_store_url: str | None = setting(
        "Redis URL, for token_store redis", default=None, secret=True
    )

    def __attrs_post_init__(self) -> None:
        if self.token_store == "redis" and self.token_store_url is None:  # noqa: S105 - a kind
            raise InvalidValue("token_store_url", "is required for token_store redis")


@attrs.frozen
class GraphWebhookSettings:
    """The ``webhooks.graph`` section: change notifications at ``POST {prefix}/graph``."""

    client_state: str = setting(
        "clientState the subscriptions are created with (16-128 characters), checked on every "
        "notification",
        secret=True,
    )
    enabled: bool = setting("serve Graph's change notifications", default=True)

    def __attrs_post_init__(self) -> None:
        check_client_state(self.client_state)


def endpoint(settings: GraphWebhookSettings, clock: Clock) -> tuple[WebhookVerifier, WebhookParser]:
    """The clientState verifier (and validation handshake), and the parser stamping receipt."""
    return GraphNotificationVerifier(settings.client_state), GraphNotificationParser(clock)


def build(settings: GraphSettings, context: BuildContext) -> GraphEmail:
    """The HTTP adapter with its client-credentials token provider."""
    grant = ClientCredentialsGrant(
        integration=INTEGRATION,
        token_url=microsoft_token_url(settings.tenant_id, settings.authority),
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=settings.scope,
        clock=context.clock,
    )
    tokens = CachedTokenProvider(
        grant,
        key=f"graph:{settings.tenant_id}:{settings.client_id}",
        store=token_store(settings.token_store, settings.token_store_url, clock=context.clock),
        skew=settings.token_skew_seconds,
        clock=context.clock,
    )
    return GraphEmail(
        http=build_client(settings.base_url),
        tokens=tokens,
        clock=context.clock,
        save_to_sent_items=settings.save_to_sent_items,
    )


SPEC = VendorSpec(
    name="graph",
    port="email",
    settings=GraphSettings,
    build=build,
    # Outlook resources: 10,000 requests per 10 minutes and 4 concurrent requests per mailbox.
    policy=ResiliencePolicy(rate=15.0, burst=4, max_concurrent=4),
    summary="Microsoft Graph: sendMail from a mailbox, app-only (4 concurrent per mailbox)",
    webhook=WebhookSpec(
        provider="graph",
        settings=GraphWebhookSettings,
        development={"client_state": "portico-graph-client-state-development"},
        endpoint=endpoint,
        # Graph: "return a 202 - Accepted status code" once the notification is persisted.
        accepted_status=202,
    ),
)
