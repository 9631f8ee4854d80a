"""An injected vendor error names the fake's integration and says whether the vendor got it."""

from __future__ import annotations

from typing import Any

import pytest

from portico import Container, OutcomeUnknown, TimedOut, Unavailable, create_container
from portico.adapters.fakes import (
    FakeClock,
    FakeCRM,
    FakeMessaging,
    FakePayments,
    FakeVoice,
    Fault,
    Faults,
    maybe_sent,
    not_sent,
)
from portico.adapters.fakes._support import FakeBase
from portico.domain.errors import (
    BulkheadFull,
    CircuitOpenError,
    InvalidRequest,
    RateLimited,
    RetryExhaustedError,
)
from portico.domain.messaging import TemplateMessage
from portico.domain.values import Email


PATIENT = "+40712345678"
FAKES: list[type[FakeBase]] = [FakeMessaging, FakeCRM, FakePayments, FakeVoice]


def _container(clock: FakeClock) -> Container:
    """A fake-environment container on ``clock`` that builds nothing on disk."""
    config = {"outbox": {"path": ":memory:"}, "webhooks": {"replay": {"kind": "memory"}}}
    return create_container(config, env={}, clock=clock)


class TestTheFaultsName:
    """Built errors carry the integration the resilience pipelines know the fake by."""

    def test_each_fake_plays_the_integration_its_pipeline_is_named_for(self) -> None:
        """The fakes' integrations are the container's pipeline names, port by port."""
        container = _container(FakeClock())
        pipelines: dict[type[FakeBase], Any] = {
            FakeMessaging: container.messaging_pipeline(),
            FakeCRM: container.crm_pipeline(),
            FakePayments: container.payments_pipeline(),
            FakeVoice: container.voice_pipeline(),
        }
        for fake, pipeline in pipelines.items():
            assert pipeline.integration == fake.INTEGRATION
        assert [fake.INTEGRATION for fake in FAKES] == ["whatsapp", "hubspot", "stripe", "vapi"]

    @pytest.mark.parametrize("fake_type", FAKES)
    async def test_a_bare_class_is_not_sent_and_names_the_fake(
        self, fake_type: type[FakeBase]
    ) -> None:
        """fail_next(1, Unavailable): the vendor never got it, and the error says which vendor."""
        fake = fake_type()
        fake.faults.fail_next(1, Unavailable)
        with pytest.raises(Unavailable) as caught:
            await fake.faults.before("any_operation")
        assert caught.value.integration == fake_type.INTEGRATION
        assert caught.value.request_sent is False
        assert caught.value.message == "injected fault"

    async def test_maybe_sent_says_the_vendor_may_have_acted(self) -> None:
        """maybe_sent(TimedOut) builds a TimedOut with request_sent=True, named for the fake."""
        voice = FakeVoice()
        voice.faults.fail_next(1, maybe_sent(TimedOut, "read timeout"))
        with pytest.raises(TimedOut) as caught:
            await voice.get_call("call-1")
        assert (caught.value.integration, caught.value.request_sent) == ("vapi", True)
        assert caught.value.message == "read timeout"

    async def test_not_sent_is_what_a_bare_class_means(self) -> None:
        """not_sent(cls) and cls inject the same error; a rate limit keeps its own class."""
        crm = FakeCRM()
        crm.faults.fail_next(1, not_sent(RateLimited))
        with pytest.raises(RateLimited) as caught:
            await crm.find_contact(email=Email("a@example.com"))
        assert (caught.value.integration, caught.value.request_sent) == ("hubspot", False)
        assert not_sent(Unavailable) == Fault(Unavailable, request_sent=False)

    async def test_an_instance_is_raised_exactly_as_given(self) -> None:
        """A prepared instance keeps its own fields: the test chose them."""
        wa = FakeMessaging()
        wa.faults.fail_next(1, Unavailable("503", integration="360dialog", request_sent=True))
        with pytest.raises(Unavailable) as caught:
            await wa.get_status("wamid.x")
        assert (caught.value.integration, caught.value.request_sent) == ("360dialog", True)

    async def test_a_non_vendor_class_is_built_with_the_fixed_message(self) -> None:
        """A class outside the error tree (TimeoutError) is raised as before, with its message."""
        payments = FakePayments()
        payments.faults.fail_next(1, TimeoutError)
        with pytest.raises(TimeoutError, match="injected fault"):
            await payments.get_payment_intent("pi_x")

    async def test_standalone_faults_name_what_they_are_told(self) -> None:
        """Faults outside a fake build errors for its own integration, or 'unknown'."""
        named, bare = Faults(integration="twilio"), Faults()
        named.fail_next(1, Unavailable)
        bare.fail_next(1, Unavailable)
        with pytest.raises(Unavailable) as first:
            await named.before("send")
        with pytest.raises(Unavailable) as second:
            await bare.before("send")
        assert (first.value.integration, second.value.integration) == ("twilio", "unknown")

    @pytest.mark.parametrize(
        "error", [BulkheadFull, CircuitOpenError, RetryExhaustedError, InvalidRequest("x"), int]
    )
    def test_what_no_vendor_raises_is_refused_at_once(self, error: object) -> None:
        """Local rejections, a non-class and a non-exception class fail where the test says so."""
        with pytest.raises(TypeError):
            Fault(error, request_sent=False)  # type: ignore[arg-type]
        if isinstance(error, type):
            with pytest.raises(TypeError):
                Faults().fail_next(1, error)

    def test_request_sent_must_be_said_with_a_bool(self) -> None:
        """Fault(..., request_sent=1) is refused: the choice is yes or no."""
        with pytest.raises(TypeError):
            Fault(Unavailable, request_sent=1)  # type: ignore[arg-type]


class TestThroughTheResilientPort:
    """What a host sees through ``container.messaging()`` (a send is not idempotent)."""

    async def test_a_not_sent_outage_is_retried_and_the_message_goes_out(self) -> None:
        """not_sent(Unavailable): the pipeline backs off (on the fake clock) and sends again."""
        clock = FakeClock()
        container = _container(clock)
        wa: FakeMessaging = container.fake_messaging()
        wa.faults.fail_next(1, not_sent(Unavailable), operation="send")
        receipt = await container.messaging().send(TemplateMessage(PATIENT, "reminder"))
        assert receipt.message_id
        assert len(wa.faults.calls_to("send")) == 2
        assert len(clock.sleeps) == 1  # one backoff, spent instantly on the shared clock
        assert len(wa.sent_to(PATIENT)) == 1

    async def test_a_maybe_sent_timeout_is_outcome_unknown_and_never_resent(self) -> None:
        """maybe_sent(TimedOut): one attempt, then OutcomeUnknown naming WhatsApp; no resend."""
        clock = FakeClock()
        container = _container(clock)
        wa: FakeMessaging = container.fake_messaging()
        wa.faults.fail_next(1, maybe_sent(TimedOut), operation="send")
        with pytest.raises(OutcomeUnknown) as caught:
            await container.messaging().send(TemplateMessage(PATIENT, "reminder"))
        assert caught.value.integration == "whatsapp"
        assert isinstance(caught.value.__cause__, TimedOut)
        assert len(wa.faults.calls_to("send")) == 1
        assert clock.sleeps == []

    async def test_a_maybe_sent_read_is_still_retried(self) -> None:
        """An idempotent operation is retried whatever the vendor may have done."""
        container = _container(FakeClock())
        wa: FakeMessaging = container.fake_messaging()
        receipt = await container.messaging().send(TemplateMessage(PATIENT, "reminder"))
        wa.faults.fail_next(1, maybe_sent(TimedOut), operation="get_status")
        assert (await container.messaging().get_status(receipt.message_id)).message_id
        assert len(wa.faults.calls_to("get_status")) == 2


async def test_latency_is_spent_on_the_fakes_clock() -> None:
    """add_latency sleeps through the fake's clock: a FakeClock records it and never waits."""
    clock = FakeClock()
    wa = FakeMessaging(clock=clock)
    wa.faults.add_latency(2.5, operation="send")
    before = clock.now()
    await wa.send(TemplateMessage(PATIENT, "reminder"))
    assert clock.sleeps == [2.5]
    assert (clock.now() - before).total_seconds() == 2.5
