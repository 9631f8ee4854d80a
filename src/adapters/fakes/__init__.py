"""
In-memory fakes of every port, shipped for users' tests and for the ``fake`` environment.

Each behaves like its vendor where a caller can tell (ids, statuses, idempotency, errors), can
misbehave on demand (`Faults`: fail the next N calls, add latency, record calls), and has
vendor-side controls (`FakePayments.pay`, `FakeMessaging.receive`, ...) that return the domain
event the vendor's webhook would have delivered.
"""

from adapters.fakes._support import Faults, ManualClock, RecordedCall, utc_now
from adapters.fakes.crm import FakeCRM
from adapters.fakes.messaging import FakeMessaging
from adapters.fakes.payments import FakePayments
from adapters.fakes.voice import FakeVoice


__all__ = [
    "FakeCRM",
    "FakeMessaging",
    "FakePayments",
    "FakeVoice",
    "Faults",
    "ManualClock",
    "RecordedCall",
    "utc_now",
]
