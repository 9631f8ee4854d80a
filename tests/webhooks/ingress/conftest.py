"""Fixtures handing the test doubles of `ingress_doubles` to the ingress tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from portico.app.services.webhook_ingress import WebhookIngress
from portico.domain.webhooks import WebhookRequest

from .ingress_doubles import Paid, delivery, make_ingress, signed


@pytest.fixture(name="make_ingress")
def _make_ingress() -> Callable[..., WebhookIngress]:
    """Build an ingress with the test provider (see `ingress_doubles.make_ingress`)."""
    return make_ingress


@pytest.fixture(name="sign")
def _sign() -> Callable[..., WebhookRequest]:
    """Sign an arbitrary payload for the test provider."""
    return signed


@pytest.fixture(name="deliver")
def _deliver() -> Callable[..., WebhookRequest]:
    """A signed delivery of one event per id."""
    return delivery


@pytest.fixture(name="paid_type")
def _paid_type() -> type[Paid]:
    """The test event class."""
    return Paid
