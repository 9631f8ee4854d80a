"""Twilio SMS as a Portico messaging vendor: its settings, webhooks, default policy and `SPEC`."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ...domain.errors import InvalidValue
from ...domain.time import Clock
from ...domain.values import PhoneNumber
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..http.client import build_client
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import BASE_URL, TwilioMessaging
from .parser import TwilioParser
from .verifier import TwilioWebhookVerifier


__all__ = ["SPEC", "TwilioSettings", "TwilioWebhookSettings"]


@attrs.frozen
class TwilioSettings:
    """
    The ``twilio`` section; give ``from_number`` or ``messaging_service_sid``, and ``auth_token``
    or an API key (``api_key_sid`` with ``api_key_secret``, which Twilio recommends for production).
    """

    account_sid: str = setting("account SID (AC...): the path, and the user without an API key")
    auth_token: str | None = setting(
        "the account's auth token (or use an API key)", secret=True, required_unless="api_key_sid"
    )
    api_key_sid: str | None = setting("API key SID (SK...) to authenticate with", default=None)
    api_key_secret: str | None = setting("the API key's secret", default=None, secret=True)
    from_number: str | None = setting("E.164 sender number", default=None)
    messaging_service_sid: str | None = setting(
        "Messaging Service (MG...) that picks the sender", default=None
    )
    status_callback: str | None = setting("URL Twilio posts status changes to", default=None)
    content_sids: Mapping[str, str] = setting(
        "template name -> Content API SID (HX...), for template messages", default={}
    )
    base_url: str = setting("API base URL (a simulator's in tests)", default=BASE_URL)

    def __attrs_post_init__(self) -> None:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise InvalidValue(
                "from_number", "give twilio.from_number or twilio.messaging_service_sid, not both"
            )
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise InvalidValue(
                "api_key_sid", "give twilio.api_key_sid and twilio.api_key_secret together"
            )
        if (self.auth_token is None) == (self.api_key_sid is None):
            raise InvalidValue(
                "auth_token", "give twilio.auth_token or an API key (api_key_sid), not both"
            )

    @property
    def password(self) -> str:
        """The basic-auth password: the API key's secret, else the auth token."""
        if self.api_key_secret is not None:
            return self.api_key_secret
        if self.auth_token is None:  # refused in __attrs_post_init__; kept for the type checker
            raise InvalidValue("auth_token", "give twilio.auth_token or an API key")
        return self.auth_token


@attrs.frozen
class TwilioWebhookSettings:
    """The ``webhooks.twilio`` section."""

    auth_token: str = setting("the auth token Twilio signs requests with", secret=True)


def build(settings: TwilioSettings, context: BuildContext) -> TwilioMessaging:
    """The HTTP adapter (a sender or a messaging service, not both: the adapter refuses)."""
    sender = settings.from_number
    return TwilioMessaging(
        http=build_client(settings.base_url),
        account_sid=settings.account_sid,
        auth_token=settings.password,
        api_key_sid=settings.api_key_sid,
        sender=PhoneNumber.parse(sender, field="twilio.from_number") if sender else None,
        messaging_service_sid=settings.messaging_service_sid,
        status_callback=settings.status_callback,
        content_sids=dict(settings.content_sids),
    )


def endpoint(
    settings: TwilioWebhookSettings, clock: Clock
) -> tuple[WebhookVerifier, WebhookParser]:
    """The X-Twilio-Signature verifier and the form parser (times of receipt on ``clock``)."""
    return TwilioWebhookVerifier(settings.auth_token), TwilioParser(clock=clock)


SPEC = VendorSpec(
    name="twilio",
    port="messaging",
    settings=TwilioSettings,
    build=build,
    # The account queue takes about 100 requests per second.
    policy=ResiliencePolicy(rate=90.0, burst=10),
    summary="Twilio Programmable Messaging: SMS (account queue: about 100 req/s)",
    webhook=WebhookSpec(
        provider="twilio",
        settings=TwilioWebhookSettings,
        development={"auth_token": "portico-development-only"},
        endpoint=endpoint,
    ),
)
