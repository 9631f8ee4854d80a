"""Stripe: the `PaymentPort` over PaymentIntents, Refunds and Checkout Sessions."""

from adapters.stripe.errors import parse_stripe_error
from adapters.stripe.payments import STRIPE_API_VERSION, STRIPE_BASE_URL, StripePayments


__all__ = ["STRIPE_API_VERSION", "STRIPE_BASE_URL", "StripePayments", "parse_stripe_error"]
