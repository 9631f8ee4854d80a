"""Stripe as Portico's payments vendor: its settings, webhooks, default policy and `SPEC`."""

from __future__ import annotations

import attrs

from ...domain.errors import ConfigurationError
from ...domain.time import Clock
from ...ports.webhooks import WebhookParser, WebhookVerifier
from ..resilience import ResiliencePolicy
from ..spec import BuildContext, VendorSpec, WebhookSpec, setting
from .adapter import API_VERSION, BASE_URL, StripePayments
from .parser import StripeParser
from .verifier import StripeWebhookVerifier


__all__ = ["SPEC", "StripeSettings", "StripeWebhookSettings"]


@attrs.frozen
class StripeSettings:
    """The ``stripe`` section."""

    api_key: str = setting(
        "secret key (sk_test_... in the sandbox, which refuses sk_live_)", secret=True
    )
    base_url: str = setting("API base URL (a simulator's in tests)", default=BASE_URL)
    api_version: str = setting("Stripe-Version header sent with every request", default=API_VERSION)


@attrs.frozen
class StripeWebhookSettings:
    """The ``webhooks.stripe`` section."""

    secret: str = setting(
        "endpoint secret(s) whsec_..., comma-separated while rolling", secret=True
    )


def build(settings: StripeSettings, context: BuildContext) -> StripePayments:
    """The HTTP adapter; the sandbox refuses a live key, so it can never move real money."""
    if context.environment == "sandbox" and "_live_" in settings.api_key:
        raise ConfigurationError("stripe.api_key: the sandbox refuses a live key (use sk_test_...)")
    return StripePayments.connect(
        settings.api_key, base_url=settings.base_url, api_version=settings.api_version
    )


def audit(settings: StripeSettings, environment: str) -> list[tuple[str, str]]:
    """A test-mode key (``sk_test_``/``rk_test_``) in production takes no real payment."""
    if environment == "production" and "_test_" in settings.api_key:
        return [
            ("api_key", "a test-mode key (sk_test_...) in production: no real payment is taken")
        ]
    return []


def endpoint(
    settings: StripeWebhookSettings, clock: Clock
) -> tuple[WebhookVerifier, WebhookParser]:
    """The verifier over every configured secret (its window on ``clock``), and the parser."""
    rotation = tuple(s.strip() for s in settings.secret.split(",") if s.strip())
    return StripeWebhookVerifier(rotation, clock=clock), StripeParser()


SPEC = VendorSpec(
    name="stripe",
    port="payments",
    settings=StripeSettings,
    build=build,
    # Card payments: open sooner (3 failures) and probe sooner (30 s) than the other vendors.
    # Live mode allows 100 requests per second; the bucket keeps burst + rate * 1 s under it.
    policy=ResiliencePolicy(failure_threshold=3, reset_timeout=30.0, rate=90.0, burst=10),
    summary="Stripe: PaymentIntents, Refunds, Checkout Sessions (live mode: 100 req/s)",
    audit=audit,
    webhook=WebhookSpec(
        provider="stripe",
        settings=StripeWebhookSettings,
        development={"secret": "whsec_portico_development_only"},
        endpoint=endpoint,
    ),
)
