"""``portico.testing``, the host's test kit, is pinned like the front door."""

from __future__ import annotations

import portico.testing
from portico.app.wiring import webhooks as webhooks_wiring


# What a host's tests import from Portico, pinned: a change here is a change of the public API.
TEST_KIT = [
    "DEV_SECRETS",
    "FakeCRM",
    "FakeClock",
    "FakeEmail",
    "FakeMessaging",
    "FakePayments",
    "FakeVoice",
    "Fault",
    "Faults",
    "RecordedCall",
    "graph_change",
    "graph_lifecycle",
    "graph_notification",
    "maybe_sent",
    "not_sent",
    "sign_360dialog",
    "sign_hubspot_v1",
    "sign_hubspot_v2",
    "sign_hubspot_v3",
    "sign_meta",
    "sign_standard",
    "sign_stripe",
    "sign_twilio",
    "sign_twilio_json",
    "sign_vapi_hmac",
    "vapi_secret_headers",
]


def test_the_test_kit_is_pinned_and_sorted() -> None:
    """`from portico.testing import ...` offers exactly these names, in sorted order."""
    assert portico.testing.__all__ == sorted(portico.testing.__all__)
    assert portico.testing.__all__ == TEST_KIT


def test_every_name_exists_and_nothing_public_is_left_out() -> None:
    """Each exported name is bound, and every public name bound is exported."""
    for name in TEST_KIT:
        assert hasattr(portico.testing, name), name
    public = {name for name in vars(portico.testing) if not name.startswith("_")}
    assert public - {"annotations"} == set(TEST_KIT)


def test_the_development_secrets_are_the_ones_the_fake_environment_verifies_with() -> None:
    """DEV_SECRETS is the wiring's own table, one entry per webhook provider."""
    assert portico.testing.DEV_SECRETS is webhooks_wiring.DEV_SECRETS
    assert set(portico.testing.DEV_SECRETS) == set(webhooks_wiring.PROVIDERS)
