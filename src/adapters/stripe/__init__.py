"""Stripe: the `PaymentPort` over PaymentIntents, Refunds and Checkout Sessions."""

from .adapter import API_VERSION, BASE_URL, StripePayments
from .errors import parse_stripe_error


__all__ = ["API_VERSION", "BASE_URL", "StripePayments", "parse_stripe_error"]
