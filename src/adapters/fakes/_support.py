"""
What every fake shares: fault injection, a call log, the clock and vendor-style ids.

A fake is only useful for resilience tests if it can misbehave on demand, and only useful for
assertions if it remembers what it was asked. `Faults` does both, once, for all four fakes. The
call log is bounded (the newest `DEFAULT_MAX_CALLS` by default): the calls carry patient data, and
a fake serving a long-running process (``portico serve`` in the fake environment) must not grow
without end.
"""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from ...domain.events import DomainEvent
from ...domain.time import SYSTEM_CLOCK, Clock


__all__ = [
    "DEFAULT_MAX_CALLS",
    "FakeBase",
    "Faults",
    "IdMaker",
    "RecordedCall",
    "Sleep",
]

Sleep = Callable[[float], Awaitable[None]]
ErrorFactory = BaseException | Callable[[], BaseException]
E = TypeVar("E", bound=DomainEvent)
DEFAULT_MAX_CALLS = 10_000
INJECTED = "injected fault"


@attrs.frozen
class RecordedCall:
    """One call a fake received: the port operation and its arguments (never printed)."""

    operation: str
    args: tuple[Any, ...] = attrs.field(repr=False)


@attrs.define
class _Failure:
    error: ErrorFactory
    remaining: int
    operation: str | None


@attrs.define
class Faults:
    """
    Fault injection and call recording, shared by every fake.

    Args:
        sleep: how latency is spent; None (the default) uses the owning fake's clock
            (`Clock.sleep`), so a `FakeClock` makes latency instant.
        max_calls: how many recent calls the log keeps; older ones are forgotten (counted in
            `forgotten`), so the log's memory is bounded however long the fake runs.
    """

    sleep: Sleep | None = None
    max_calls: int = attrs.field(default=DEFAULT_MAX_CALLS, kw_only=True)
    forgotten: int = attrs.field(default=0, init=False)
    _log: deque[RecordedCall] = attrs.field(init=False)
    _failures: list[_Failure] = attrs.field(factory=list, init=False)
    _latency: dict[str | None, float] = attrs.field(factory=dict, init=False)

    @max_calls.validator
    def _positive(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or value < 1:
            raise ValueError("max_calls must be a positive int")

    def __attrs_post_init__(self) -> None:
        self._log = deque(maxlen=self.max_calls)

    @property
    def calls(self) -> list[RecordedCall]:
        """The recorded calls, oldest first (the newest ``max_calls``; a copy)."""
        return list(self._log)

    def attach(self, sleep: Sleep) -> None:
        """Called by the fake that owns these faults: spend latency on its clock, unless set."""
        if self.sleep is None:
            self.sleep = sleep

    def fail_next(self, count: int, error: ErrorFactory, *, operation: str | None = None) -> None:
        """
        Make the next ``count`` calls (of ``operation`` only, when given) raise ``error``.

        ``error`` is an exception instance (raised each time), an exception class (built with the
        message "injected fault") or a zero-argument factory. Failures queue up: a second
        `fail_next` starts after the first ends.
        """
        if type(count) is not int or count < 1:
            raise ValueError("count must be a positive int")
        self._failures.append(_Failure(error, count, operation))

    def add_latency(self, seconds: float, *, operation: str | None = None) -> None:
        """Spend ``seconds`` (through `sleep`) before every call, or every call of ``operation``."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._latency[operation] = seconds

    def calls_to(self, operation: str) -> list[RecordedCall]:
        """The recorded calls of one operation, oldest first."""
        return [call for call in self._log if call.operation == operation]

    def reset(self) -> None:
        """Forget recorded calls, queued failures and latency."""
        self._log.clear()
        self.forgotten = 0
        self._failures.clear()
        self._latency.clear()

    async def before(self, operation: str, *args: Any) -> None:
        """Record the call, spend its latency, then raise an injected failure if one is due."""
        if len(self._log) == self.max_calls:
            self.forgotten += 1
        self._log.append(RecordedCall(operation, args))
        delay = self._latency.get(operation, self._latency.get(None, 0.0))
        if delay:
            await (self.sleep or asyncio.sleep)(delay)
        for failure in self._failures:
            if failure.operation in (None, operation):
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                error = failure.error
                if isinstance(error, BaseException):
                    raise error.with_traceback(None)
                if isinstance(error, type):
                    raise error(INJECTED)
                raise error()


_ALNUM = string.ascii_letters + string.digits


@attrs.define
class IdMaker:
    """Vendor-style ids from a seedable generator, so a seeded fake is reproducible."""

    seed: int | None = None
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def token(self, length: int, alphabet: str = _ALNUM) -> str:
        """``length`` random characters of ``alphabet``."""
        return "".join(self._rng.choices(alphabet, k=length))

    def uuid4(self) -> str:
        """A random version-4 UUID string (Vapi's ids)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


@attrs.define(repr=False)
class FakeBase:
    """
    Fields every fake has: a clock, fault injection, seeded ids and the webhooks it "sent".

    Args:
        clock: the time source (`Clock.now` stamps objects and events, `Clock.sleep` spends
            injected latency); pass the test's `FakeClock` to control time.
        seed: makes generated ids reproducible.
        faults: fault injection and the call log (`Faults`); unless given its own sleep, it
            spends latency on this fake's clock.
    """

    clock: Clock = attrs.field(default=SYSTEM_CLOCK, kw_only=True)
    seed: int | None = attrs.field(default=None, kw_only=True)
    faults: Faults = attrs.field(factory=Faults, kw_only=True)
    events: list[DomainEvent] = attrs.field(factory=list, init=False)
    _ids: IdMaker = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._ids = IdMaker(self.seed)
        self.faults.attach(self.clock.sleep)

    @property
    def calls(self) -> list[RecordedCall]:
        """Every port call received, oldest first (shortcut for ``faults.calls``)."""
        return self.faults.calls

    def drain_events(self) -> list[DomainEvent]:
        """Return and forget the events the vendor's webhooks would have delivered so far."""
        drained, self.events[:] = list(self.events), []
        return drained

    def _emit(self, event: E) -> E:
        self.events.append(event)
        return event

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={n}" for name, n in self._counts().items())
        return f"{type(self).__name__}({counts})"

    def _counts(self) -> dict[str, int]:
        """What the short repr shows: how many objects of each kind (never their content)."""
        return {"calls": len(self.calls), "events": len(self.events)}

    def reset(self) -> None:
        """Forget faults, recorded calls and events (subclasses also forget their objects)."""
        self.faults.reset()
        self.events.clear()
