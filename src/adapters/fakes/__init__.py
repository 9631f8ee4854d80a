"""
In-memory fakes of every port, shipped for users' tests and for the ``fake`` environment.

Each behaves like its vendor where a caller can tell (ids, statuses, idempotency, errors), can
misbehave on demand (`Faults`: fail the next N calls, add latency, record calls; `not_sent` and
`maybe_sent` say whether the vendor got a failed request), and has vendor-side controls
(`FakePayments.pay`, `FakeMessaging.receive`, ...) that return the domain event the vendor's
webhook would have delivered. `FakeClock` is the one fake time source for all of them and for the
resilience policies.
"""

from ._support import Fault, Faults, RecordedCall, maybe_sent, not_sent
from .clock import FakeClock
from .crm import FakeCRM
from .email import FakeEmail
from .messaging import FakeMessaging
from .payments import FakePayments
from .voice import FakeVoice


__all__ = [
    "FakeCRM",
    "FakeClock",
    "FakeEmail",
    "FakeMessaging",
    "FakePayments",
    "FakeVoice",
    "Fault",
    "Faults",
    "RecordedCall",
    "maybe_sent",
    "not_sent",
]
