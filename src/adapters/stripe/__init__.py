"""Stripe: the `PaymentPort` over PaymentIntents, Refunds and Checkout Sessions."""

from .adapter import STRIPE_API_VERSION, STRIPE_BASE_URL, StripePayments
from .errors import parse_stripe_error


__all__ = ["STRIPE_API_VERSION", "STRIPE_BASE_URL", "StripePayments", "parse_stripe_error"]
