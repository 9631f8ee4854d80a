"""
What every fake shares: fault injection, a call log, the clock and vendor-style ids.

A fake is only useful for resilience tests if it can misbehave on demand, and only useful for
assertions if it remembers what it was asked. `Faults` does both, once, for all four fakes. The
call log is bounded (the newest `DEFAULT_MAX_CALLS` by default): the calls carry patient data, and
a fake serving a long-running process (``portico serve`` in the fake environment) must not grow
without end.

An injected vendor error says whether the vendor got the request, because that decides what the
resilience pipeline does with it: `not_sent` (the default for a bare class) may be retried even
when the operation is not idempotent; `maybe_sent` is never resent, and surfaces as
`OutcomeUnknown` for an operation that must not happen twice.
"""

from __future__ import annotations

import asyncio
import functools
import random
import string
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import attrs

from ...domain.errors import IntegrationError, LocalRejection, RetryExhaustedError
from ...domain.events import DomainEvent
from ...domain.time import SYSTEM_CLOCK, Clock


__all__ = [
    "DEFAULT_MAX_CALLS",
    "FakeBase",
    "Fault",
    "Faults",
    "IdMaker",
    "RecordedCall",
    "Sleep",
    "maybe_sent",
    "not_sent",
]

Sleep = Callable[[float], Awaitable[None]]
ErrorFactory = BaseException | Callable[[], BaseException]
E = TypeVar("E", bound=DomainEvent)
DEFAULT_MAX_CALLS = 10_000
INJECTED = "injected fault"


def _vendor_error(
    _inst: object, _attr: attrs.Attribute[type[IntegrationError]], value: object
) -> None:
    if not isinstance(value, type) or not issubclass(value, IntegrationError):
        msg = f"a Fault is a vendor error class (an IntegrationError subclass), got {value!r}"
        raise TypeError(msg)
    if issubclass(value, LocalRejection | RetryExhaustedError):
        msg = (
            f"{value.__name__} is raised by Portico's own policies, never by a vendor; "
            "inject an instance if a test needs one"
        )
        raise TypeError(msg)


@attrs.frozen
class Fault:
    """
    A vendor error to inject, built when it is raised, naming the fake's integration.

    Make one with `not_sent` or `maybe_sent`, which say plainly whether the vendor got the request.

    Args:
        error: the `IntegrationError` subclass to raise (not a `LocalRejection`: those come from
            Portico's own policies).
        request_sent: False: the vendor never got the request (a refused connection, a 503 before
            processing), so sending it again is harmless. True: it may have acted on it (a
            timeout, a reset connection), so an operation that must not happen twice is not
            resent and the caller gets `OutcomeUnknown`.
        message: the error's message.
    """

    error: type[IntegrationError] = attrs.field(validator=_vendor_error)
    request_sent: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    message: str = INJECTED

    def build(self, integration: str) -> IntegrationError:
        """The error to raise, for ``integration``."""
        return self.error(self.message, integration=integration, request_sent=self.request_sent)


def not_sent(error: type[IntegrationError], message: str = INJECTED) -> Fault:
    """
    ``error``, raised before the vendor got the request: the pipeline may retry any operation.

    ``fake.faults.fail_next(1, not_sent(Unavailable))``; the same as passing the bare class.
    """
    return Fault(error, request_sent=False, message=message)


def maybe_sent(error: type[IntegrationError], message: str = INJECTED) -> Fault:
    """
    ``error``, raised after the vendor may have acted: a non-idempotent call is never resent.

    ``fake.faults.fail_next(1, maybe_sent(TimedOut))``: a message send through the resilient port
    then raises `OutcomeUnknown` after one attempt; an idempotent read is still retried.
    """
    return Fault(error, request_sent=True, message=message)


@attrs.frozen
class RecordedCall:
    """One call a fake received: the port operation and its arguments (never printed)."""

    operation: str
    args: tuple[Any, ...] = attrs.field(repr=False)


def _injectable(error: Fault | type[BaseException] | ErrorFactory) -> Fault | ErrorFactory:
    """A bare vendor error class is `not_sent`; another class is built with a fixed message."""
    if isinstance(error, type):
        if issubclass(error, IntegrationError):
            return not_sent(error)
        if issubclass(error, BaseException):
            return functools.partial(error, INJECTED)
        msg = f"not an exception class: {error!r}"
        raise TypeError(msg)
    return error


@attrs.define
class _Failure:
    error: Fault | ErrorFactory
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
        integration: named in the errors built from `Fault` and bare classes; None (the default)
            takes the owning fake's ("whatsapp", "hubspot", "stripe", "vapi").
    """

    sleep: Sleep | None = None
    max_calls: int = attrs.field(default=DEFAULT_MAX_CALLS, kw_only=True)
    integration: str | None = attrs.field(default=None, kw_only=True)
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

    def attach(self, integration: str, sleep: Sleep) -> None:
        """Called by the fake that owns these faults: fill in the settings left unset."""
        if self.integration is None:
            self.integration = integration
        if self.sleep is None:
            self.sleep = sleep

    def fail_next(
        self,
        count: int,
        error: Fault | type[BaseException] | ErrorFactory,
        *,
        operation: str | None = None,
    ) -> None:
        """
        Make the next ``count`` calls (of ``operation`` only, when given) raise ``error``.

        ``error`` is one of:

        - a `Fault`, from `not_sent` or `maybe_sent`: the vendor error, naming this fake's
          integration, that says whether the vendor got the request;
        - a vendor error class (``Unavailable``): the same as ``not_sent(Unavailable)``. Not sent
          is the default because it is what happened: the fake raises before it acts, and a
          pipeline may then retry as it would after a refused connection. Say `maybe_sent` to
          test what happens when the vendor may have acted;
        - another exception class (``TimeoutError``), built with the message "injected fault";
        - an exception instance, raised each time exactly as given (its own ``integration`` and
          ``request_sent``), or a zero-argument factory of one.

        Failures queue up: a second `fail_next` starts after the first ends.

        Raises:
            ValueError: ``count`` is not a positive int.
            TypeError: ``error`` is a local rejection class (`not_sent` explains).
        """
        if type(count) is not int or count < 1:
            raise ValueError("count must be a positive int")
        self._failures.append(_Failure(_injectable(error), count, operation))

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
                if isinstance(error, Fault):
                    raise error.build(self.integration or "unknown")
                if isinstance(error, BaseException):
                    raise error.with_traceback(None)
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
        faults: fault injection and the call log (`Faults`); its unset integration and sleep are
            taken from this fake.
    """

    INTEGRATION: ClassVar[str] = "unknown"
    """The integration this fake plays, as the pipelines name it; named in injected errors."""

    clock: Clock = attrs.field(default=SYSTEM_CLOCK, kw_only=True)
    seed: int | None = attrs.field(default=None, kw_only=True)
    faults: Faults = attrs.field(factory=Faults, kw_only=True)
    events: list[DomainEvent] = attrs.field(factory=list, init=False)
    _ids: IdMaker = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._ids = IdMaker(self.seed)
        self.faults.attach(self.INTEGRATION, self.clock.sleep)

    @property
    def calls(self) -> list[RecordedCall]:
        """Every port call received, oldest first (shortcut for ``faults.calls``)."""
        return self.faults.calls

    async def probe(self) -> None:
        """
        The port's health read (``probe`` on every port): the fake vendor always answers,
        unless a fault is injected for it (``faults.fail_next(1, Unavailable,
        operation="probe")``, or for the next call of any operation), as for every operation.
        """
        await self.faults.before("probe")

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
