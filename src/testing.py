"""
What a host's tests need from Portico: the fakes, one fake clock, webhook signers and faults.

Build the container on the fakes and one `FakeClock`, and everything it makes follows that
clock: retries back off instantly, breakers reopen when the test advances time, and webhook
timestamps, fake vendor objects and services read the same now::

    from portico import TimedOut, Unavailable, create_container
    from portico.testing import FakeClock, maybe_sent, not_sent

    clock = FakeClock()
    container = create_container({"environment": "fake"}, env={}, clock=clock)
    wa = container.fake_messaging()
    wa.faults.fail_next(1, not_sent(Unavailable))   # retried, then sent
    wa.faults.fail_next(1, maybe_sent(TimedOut))    # OutcomeUnknown: never sent twice

An injected vendor error says whether the vendor got the request, because that is what decides
a retry: `not_sent` (also what a bare class means) may be sent again; `maybe_sent` is not, for an
operation that must not happen twice (a message, a call, a new deal).

Sign test deliveries with the `DEV_SECRETS` the ``fake`` environment verifies with, at the
clock's time: ``sign_stripe(body, DEV_SECRETS["stripe"]["secret"], clock=clock)``. Graph signs
nothing: build its body with the clientState instead, ``graph_notification(DEV_SECRETS["graph"]
["client_state"], graph_change("users/clinic/messages/AAMk"))``.
"""

from .adapters.fakes import (
    FakeClock,
    FakeCRM,
    FakeEmail,
    FakeMessaging,
    FakePayments,
    FakeVoice,
    Fault,
    Faults,
    RecordedCall,
    maybe_sent,
    not_sent,
)
from .adapters.webhooks.signers import (
    graph_change,
    graph_lifecycle,
    graph_notification,
    sign_360dialog,
    sign_hubspot_v1,
    sign_hubspot_v2,
    sign_hubspot_v3,
    sign_meta,
    sign_standard,
    sign_stripe,
    sign_twilio,
    sign_twilio_json,
    sign_vapi_hmac,
    vapi_secret_headers,
)
from .app.wiring.webhooks import DEV_SECRETS


__all__ = [
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
