"""Fault injection and call recording, shared by every fake."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments, FakeVoice, Faults
from portico.domain.errors import InvalidRequest, NotFound, RateLimited, TimedOut, Unavailable
from portico.domain.messaging import TextMessage
from portico.domain.values import Email


class RecordingSleep:
    """An async sleep that records how long it was asked to wait, and returns at once."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_fail_next_fails_exactly_n_calls_then_recovers() -> None:
    """The next N calls raise the injected error; call N+1 behaves normally."""
    crm = FakeCRM()
    crm.faults.fail_next(2, Unavailable("down", integration="hubspot"))
    for _ in range(2):
        with pytest.raises(Unavailable):
            await crm.find_contact(email=Email("a@example.com"))
    assert await crm.find_contact(email=Email("a@example.com")) is None


async def test_a_failure_can_target_one_operation() -> None:
    """With operation=..., other operations are unaffected and do not use up the failure."""
    wa = FakeMessaging(enforce_window=False)
    wa.faults.fail_next(1, TimedOut, operation="send")
    with pytest.raises(NotFound):
        await wa.get_status("wamid.unknown")
    with pytest.raises(TimedOut):
        await wa.send(TextMessage("+40712345678", "hi"))
    assert (await wa.send(TextMessage("+40712345678", "hi"))).message_id


async def test_failures_queue_in_order() -> None:
    """A second fail_next starts after the first one is used up."""
    voice = FakeVoice()
    voice.faults.fail_next(1, RateLimited("slow down", retry_after=2.0))
    voice.faults.fail_next(1, Unavailable("down"))
    with pytest.raises(RateLimited) as first:
        await voice.get_call("x")
    assert first.value.retry_after == 2.0
    with pytest.raises(Unavailable):
        await voice.get_call("x")
    with pytest.raises(NotFound):
        await voice.get_call("x")


async def test_latency_goes_through_the_injected_sleep() -> None:
    """add_latency waits through the injected sleep, globally or per operation."""
    sleep = RecordingSleep()
    payments = FakePayments(faults=Faults(sleep=sleep))
    payments.faults.add_latency(0.5)
    payments.faults.add_latency(2.0, operation="get_payment_intent")
    with pytest.raises(NotFound):
        await payments.get_payment_intent("pi_x")
    with pytest.raises(NotFound):
        await payments.cancel_payment_intent("pi_x")
    assert sleep.slept == [2.0, 0.5]


async def test_every_call_is_recorded_even_when_it_fails() -> None:
    """calls records the operation and arguments of every call, failed or not."""
    crm = FakeCRM()
    crm.faults.fail_next(1, Unavailable("down"))
    with pytest.raises(Unavailable):
        await crm.get_contact("1")
    with pytest.raises(NotFound):
        await crm.get_contact("2")
    assert [(c.operation, c.args) for c in crm.calls] == [
        ("get_contact", ("1",)),
        ("get_contact", ("2",)),
    ]
    assert len(crm.faults.calls_to("get_contact")) == 2
    assert "args" not in repr(crm.calls[0])


async def test_reset_forgets_faults_calls_events_and_objects() -> None:
    """reset() returns a fake to its freshly built state."""
    wa = FakeMessaging()
    wa.receive("+40712345678", "hi")
    await wa.send(TextMessage("+40712345678", "hello"))
    wa.faults.fail_next(5, Unavailable("down"))
    wa.faults.add_latency(1.0)
    wa.reset()
    assert (wa.calls, wa.events, wa.inbound) == ([], [], [])
    with pytest.raises(InvalidRequest):
        await wa.send(TextMessage("+40712345678", "hello"))  # the window was forgotten too


@pytest.mark.parametrize("count", [0, -1, True])
def test_fail_next_refuses_a_non_positive_count(count: int) -> None:
    """fail_next needs a positive int count."""
    with pytest.raises(ValueError, match="count"):
        Faults().fail_next(count, Unavailable("down"))


def test_reprs_show_counts_never_content() -> None:
    """A fake's repr counts its objects and shows no patient data."""
    wa = FakeMessaging()
    wa.receive("+40712345678", "my private symptoms", name="Ana Popescu")
    text = repr(wa)
    assert text == "FakeMessaging(sent=0, inbound=1, calls=0, events=1)"
