"""One "maybe applied" rule: send-now parks exactly what the relay would send again."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeMessaging, FakePayments
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.delivery_rules import may_send_again, maybe_applied
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.relay_settings import RelaySettings
from portico.app.services.relay_verdicts import Verdict, after_failure
from portico.domain.commands import Command, CreatePaymentIntent, SendMessage
from portico.domain.errors import (
    BulkheadFull,
    CircuitOpenError,
    IntegrationError,
    OutcomeUnknown,
    RateLimited,
    RetryExhaustedError,
    TimedOut,
    Unavailable,
)
from portico.domain.messaging import TemplateMessage
from portico.domain.outbox import EntryState, OutboxEntry
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from portico.ports.execute import CommandPorts


def _sent(kind: type[Unavailable] | type[TimedOut] = TimedOut) -> IntegrationError:
    return kind("no answer", integration="vendor", request_sent=True)


def _unsent() -> IntegrationError:
    return Unavailable("503", integration="vendor", request_sent=False)


# Failures that say "later" (none permanent): whether the vendor may have acted on each.
LATER = {
    "unsent 503": (_unsent(), False),
    "sent 503": (_sent(Unavailable), True),
    "timeout": (_sent(), True),
    "unknown": (OutcomeUnknown("lost", integration="vendor"), True),
    "exhausted, last sent": (RetryExhaustedError(_sent(), attempts=3), True),
    "exhausted, last unsent": (RetryExhaustedError(_unsent(), attempts=3), False),
    "rate limited": (RateLimited("429", integration="vendor", retry_after=2.0), False),
    "bulkhead full": (BulkheadFull("busy", integration="vendor"), False),
    "circuit open": (CircuitOpenError("vendor", retry_in=5.0), False),
}


def _message() -> SendMessage:
    return SendMessage(TemplateMessage("+40712345678", "reminder"), IdempotencyKey("m-1"))


def _payment() -> CreatePaymentIntent:
    return CreatePaymentIntent(
        PaymentRequest(Money(5000, "EUR"), "consult", "pat1", IdempotencyKey("p-1"))
    )


def _entry(command: Command) -> OutboxEntry:
    return OutboxEntry(
        id="e1",
        seq=1,
        kind=command.kind,
        integration=command.integration,
        ordering_key=command.ordering_key,
        idempotency_key=command.idempotency_key.value,
        payload="{}",
        state=EntryState.PENDING,
        attempts=1,
        enqueued_at=0.0,
        available_at=0.0,
    )


@pytest.mark.parametrize(("error", "applied"), LATER.values(), ids=LATER.keys())
def test_maybe_applied_reads_the_last_attempt(error: IntegrationError, applied: bool) -> None:
    """A sent or unknown failure may have been applied; a local or unsent refusal was not."""
    assert maybe_applied(error) is applied
    assert may_send_again(_payment(), error)  # the vendor dedupes a payment by its key
    assert may_send_again(_message(), error) is not applied


def test_a_failure_that_is_not_a_port_error_was_not_applied() -> None:
    """A bug in a port (not an IntegrationError) says nothing about the vendor."""
    assert not maybe_applied(KeyError("oops"))


@pytest.mark.parametrize(("error", "applied"), LATER.values(), ids=LATER.keys())
@pytest.mark.parametrize("command", [_message(), _payment()], ids=["message", "payment"])
async def test_send_now_queues_exactly_what_the_relay_would_send_again(
    tmp_path, error: IntegrationError, applied: bool, command: Command
) -> None:
    """Dispatch parks a failed send-now iff the relay's verdict on that failure is not dead."""
    messaging, payments = FakeMessaging(), FakePayments()
    (messaging if isinstance(command, SendMessage) else payments).faults.fail_next(1, error)
    outbox = SqliteOutbox(tmp_path / "o.sqlite3")
    dispatch = OutboxDispatch(outbox, CommandPorts(messaging=messaging, payments=payments))
    resend = command.redeliverable or not applied
    try:
        if resend:
            assert (await dispatch.submit(command)).queued
        else:
            with pytest.raises(type(error)) as raised:
                await dispatch.submit(command)
            assert raised.value is error
            assert (await outbox.status()).pending == 0
    finally:
        await outbox.close()
    decision = after_failure(
        _entry(command), command, error, RelaySettings(), uniform=lambda a, b: a
    )
    assert (decision.verdict is not Verdict.DEAD) is resend
