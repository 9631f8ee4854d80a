"""The composed pipeline and the resilient decorators, around the shipped fakes."""

from __future__ import annotations

import asyncio
import gc
import inspect
import weakref

import pytest

from portico.adapters.fakes import (
    FakeClock,
    FakeCRM,
    FakeMessaging,
    FakePayments,
    FakeVoice,
    Faults,
)
from portico.adapters.resilience import (
    BreakerRegistry,
    CircuitState,
    Pipeline,
    ResiliencePolicy,
    ResilientCRM,
    ResilientMessaging,
    ResilientPayments,
    ResilientVoice,
    build_pipeline,
)
from portico.app.wiring.registry import BUILTIN_VENDORS
from portico.domain.errors import (
    BulkheadFull,
    CircuitOpenError,
    InvalidRequest,
    NetworkError,
    OutcomeUnknown,
    RateLimitExceeded,
    RetryExhaustedError,
    TimedOut,
    Unavailable,
)
from portico.domain.messaging import TemplateMessage
from portico.domain.values import PhoneNumber
from portico.domain.voice import CallRequest
from portico.ports.crm import CRMPort
from portico.ports.messaging import MessagingPort
from portico.ports.payments import PaymentPort
from portico.ports.voice import VoicePort


# Each vendor's default policy, from its spec.
POLICIES = {spec.name: spec.policy for spec in BUILTIN_VENDORS}


def pipeline(
    clock: FakeClock,
    integration: str = "whatsapp",
    registry: BreakerRegistry | None = None,
    **overrides: object,
) -> Pipeline:
    """The integration's default pipeline on a fake clock, with ``overrides``."""
    policy = POLICIES[integration].with_overrides(overrides)
    return build_pipeline(
        integration,
        policy,
        registry=registry if registry is not None else BreakerRegistry(),
        clock=clock,
    )


def message() -> TemplateMessage:
    """A template message (allowed outside the 24-hour window)."""
    return TemplateMessage(to=PhoneNumber("+40721234567"), template="reminder", language="en")


class TestPipeline:
    async def test_a_fake_failing_transiently_n_times_is_retried_to_success(self) -> None:
        """Two 503s on a read, then success: the caller sees the result after three attempts."""
        clock = FakeClock()
        fake = FakeMessaging(enforce_window=False)
        port = ResilientMessaging(fake, pipeline(clock))
        receipt = await fake.send(message())
        fake.faults.fail_next(2, lambda: Unavailable("503", integration="whatsapp"))
        assert (await port.get_status(receipt.message_id)).message_id == receipt.message_id
        assert len(fake.faults.calls_to("get_status")) == 3
        assert len(clock.sleeps) == 2

    async def test_a_down_fake_opens_the_breaker_then_fails_fast(self) -> None:
        """A vendor that is down trips the breaker; later calls never reach it."""
        clock = FakeClock()
        fake = FakePayments()
        registry = BreakerRegistry()
        port = ResilientPayments(fake, pipeline(clock, "stripe", registry))
        fake.faults.fail_next(1000, lambda: Unavailable("503", integration="stripe"))
        with pytest.raises(RetryExhaustedError):
            await port.get_payment_intent("pi_1")
        with pytest.raises((RetryExhaustedError, CircuitOpenError)):
            await port.get_payment_intent("pi_1")
        assert registry["stripe"].state is CircuitState.OPEN
        reached = len(fake.calls)
        assert reached == 3  # Stripe's threshold: the breaker opened on the third failure
        for _ in range(50):
            with pytest.raises(CircuitOpenError):
                await port.get_payment_intent("pi_1")
        assert len(fake.calls) == reached

    async def test_retry_stops_as_soon_as_the_breaker_opens(self) -> None:
        """With threshold 2 and 5 attempts, the second failure ends the loop without sleeping."""
        clock = FakeClock()
        fake = FakeCRM()
        port = ResilientCRM(fake, pipeline(clock, "hubspot", failure_threshold=2, retry_attempts=5))
        fake.faults.fail_next(10, lambda: Unavailable("503", integration="hubspot"))
        with pytest.raises(RetryExhaustedError) as info:
            await port.get_contact("1")
        assert info.value.attempts == 2
        assert len(clock.sleeps) == 1

    async def test_a_send_that_timed_out_is_not_sent_again(self) -> None:
        """A message send cut off by the timeout surfaces OutcomeUnknown after one attempt."""
        clock = FakeClock()
        fake = FakeMessaging(enforce_window=False, faults=Faults(sleep=clock.sleep))
        fake.faults.add_latency(60.0, operation="send")
        port = ResilientMessaging(fake, pipeline(clock, timeout=5.0))
        with pytest.raises(OutcomeUnknown) as info:
            await port.send(message())
        assert isinstance(info.value.__cause__, TimedOut)
        assert len(fake.faults.calls_to("send")) == 1

    async def test_a_send_refused_before_it_left_is_retried(self) -> None:
        """A connection refused on send (request_sent False) is retried and delivered once."""
        clock = FakeClock()
        fake = FakeMessaging(enforce_window=False)
        fake.faults.fail_next(
            1, lambda: NetworkError("refused", integration="whatsapp", request_sent=False)
        )
        port = ResilientMessaging(fake, pipeline(clock))
        await port.send(message())
        assert len(fake.faults.calls_to("send")) == 2

    async def test_a_voice_call_failing_after_dialling_is_not_redialled(self) -> None:
        """start_call is not idempotent: a 503 after the request went out is OutcomeUnknown."""
        fake = FakeVoice()
        fake.faults.fail_next(1, lambda: Unavailable("503", integration="vapi"))
        port = ResilientVoice(fake, pipeline(FakeClock(), "vapi"))
        with pytest.raises(OutcomeUnknown):
            await port.start_call(CallRequest(to="+40721234567", assistant_id="asst_1"))
        assert len(fake.faults.calls_to("start_call")) == 1

    async def test_permanent_errors_pass_straight_through(self) -> None:
        """A 400 is raised unchanged after one attempt and leaves the breaker closed."""
        clock = FakeClock()
        fake = FakeCRM()
        registry = BreakerRegistry()
        port = ResilientCRM(fake, pipeline(clock, "hubspot", registry))
        fake.faults.fail_next(20, lambda: InvalidRequest("bad", integration="hubspot"))
        for _ in range(20):
            with pytest.raises(InvalidRequest):
                await port.get_contact("1")
        assert len(fake.calls) == 20
        assert registry["hubspot"].state is CircuitState.CLOSED

    async def test_bulkhead_refusal_is_not_retried_and_counts_nothing(self) -> None:
        """With every slot busy, BulkheadFull surfaces at once and the breaker is untouched."""
        clock = FakeClock()
        gate = asyncio.Event()
        pipe = pipeline(clock, max_concurrent=1, bulkhead_max_wait=0, timeout=None)
        busy = asyncio.create_task(pipe.call("op", gate.wait, idempotent=True))
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFull):
            await pipe.call("op", gate.wait, idempotent=True)
        assert clock.sleeps == []
        gate.set()
        await busy
        stats = pipe.breaker.stats()
        assert (stats.failures, stats.successes) == (0, 1)

    async def test_rate_limit_refusal_surfaces_when_the_wait_is_too_long(self) -> None:
        """An empty bucket with no allowed wait raises RateLimitExceeded, not a retry."""
        clock = FakeClock()
        pipe = pipeline(clock, rate=1.0, burst=1, rate_max_wait=0)

        async def ok() -> str:
            return "ok"

        assert await pipe.call("op", ok, idempotent=True) == "ok"
        with pytest.raises(RateLimitExceeded):
            await pipe.call("op", ok, idempotent=True)

    async def test_cancelling_a_call_frees_everything(self) -> None:
        """A cancelled call leaves no bulkhead slot taken and no failure counted."""
        clock = FakeClock()
        pipe = pipeline(clock, max_concurrent=1)
        task = asyncio.create_task(pipe.call("op", asyncio.Event().wait, idempotent=True))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pipe.bulkhead is not None
        assert pipe.bulkhead.in_use == 0
        assert pipe.breaker.stats().failures == 0

    async def test_an_open_breaker_refuses_without_retrying_and_leaves_no_cycle(self) -> None:
        """Each rejection via the pipeline is counted, names the breaker and is freed at once."""
        clock = FakeClock()
        pipe = pipeline(clock, "hubspot", failure_threshold=1, reset_timeout=10.0)
        pipe.breaker.on_error(pipe.breaker.acquire(), Unavailable("503", integration="hubspot"))
        clock.advance(4.0)
        called: list[int] = []

        async def spy() -> int:
            called.append(1)
            return 1

        refs = []
        gc.disable()  # only reference counting may free the error: a cycle would keep it alive
        try:
            for _ in range(3):
                with pytest.raises(CircuitOpenError) as info:
                    await pipe.call("get_contact", spy, idempotent=True)
                assert info.value.integration == "hubspot"
                assert info.value.retry_in == pytest.approx(6.0)
                refs.append(weakref.ref(info.value))
                del info  # our own reference (the traceback holds this frame)
            assert [ref() for ref in refs] == [None, None, None]
        finally:
            gc.enable()
        assert called == []
        assert clock.sleeps == []
        assert pipe.breaker.stats().rejections == 3


class TestDecorators:
    @pytest.mark.parametrize(
        ("decorator", "port"),
        [
            (ResilientMessaging, MessagingPort),
            (ResilientCRM, CRMPort),
            (ResilientPayments, PaymentPort),
            (ResilientVoice, VoicePort),
        ],
    )
    def test_idempotency_table_matches_the_port_docstrings(
        self, decorator: type, port: type
    ) -> None:
        """Every port operation is in the table, and 'Not idempotent' ones are marked False."""
        operations = {
            name
            for name, _ in inspect.getmembers(port, inspect.isfunction)
            if not name.startswith("_")
        }
        assert set(decorator.IDEMPOTENT) == operations
        for name in operations:
            doc = inspect.getdoc(getattr(port, name)) or ""
            assert decorator.IDEMPOTENT[name] is ("Not idempotent" not in doc), name

    def test_decorators_are_their_ports(self) -> None:
        """Each decorator is an instance of its port Protocol."""
        pipe = pipeline(FakeClock())
        assert isinstance(ResilientMessaging(FakeMessaging(), pipe), MessagingPort)
        assert isinstance(ResilientCRM(FakeCRM(), pipe), CRMPort)
        assert isinstance(ResilientPayments(FakePayments(), pipe), PaymentPort)
        assert isinstance(ResilientVoice(FakeVoice(), pipe), VoicePort)


class TestConfig:
    def test_defaults_follow_the_design_card(self) -> None:
        """Stripe trips at 3 / 30 s, the others at 5 / 60 s; retry 3 x 1 s..30 s, x2."""
        assert (
            POLICIES["stripe"].failure_threshold,
            POLICIES["stripe"].reset_timeout,
        ) == (3, 30.0)
        for name in ("whatsapp", "hubspot", "vapi", "twilio"):
            assert (
                POLICIES[name].failure_threshold,
                POLICIES[name].reset_timeout,
            ) == (5, 60.0)
        for policy in POLICIES.values():
            assert (
                policy.retry_attempts,
                policy.retry_base_delay,
                policy.retry_max_delay,
                policy.retry_multiplier,
            ) == (3, 1.0, 30.0, 2.0)

    def test_overrides_from_config_strings_are_coerced(self) -> None:
        """String values from a config file become numbers of the field's type."""
        policy = ResiliencePolicy().with_overrides({"failure_threshold": "7", "timeout": "2.5"})
        assert policy.failure_threshold == 7
        assert policy.timeout == 2.5

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            pytest.param({"failure_treshold": 3}, "failure_treshold", id="typo"),
            pytest.param({"failure_threshold": "many"}, "failure_threshold", id="not-a-number"),
            pytest.param({"failure_threshold": 2.5}, "failure_threshold", id="not-an-int"),
            pytest.param({"reset_timeout": -1}, "reset_timeout", id="negative"),
        ],
    )
    def test_bad_overrides_name_the_field(self, overrides: dict[str, object], field: str) -> None:
        """A typo, a non-number or an out-of-range value raises ValueError naming the field."""
        with pytest.raises(ValueError, match=field):
            ResiliencePolicy().with_overrides(overrides)

    def test_pipelines_of_one_integration_share_its_breaker(self) -> None:
        """build_pipeline reuses the registry's breaker for the same integration."""
        registry = BreakerRegistry()
        first = build_pipeline("stripe", registry=registry)
        second = build_pipeline("stripe", registry=registry)
        assert first.breaker is second.breaker
        assert len(registry) == 1


async def test_a_crm_says_per_draft_whether_an_upsert_may_be_retried() -> None:
    """ResilientCRM asks the adapter's upsert_is_idempotent(draft) before retrying blindly."""
    from portico.adapters.fakes import FakeCRM
    from portico.adapters.resilience import (
        BreakerRegistry,
        ResilientCRM,
        build_pipeline,
    )
    from portico.domain.crm import ContactDraft
    from portico.domain.errors import OutcomeUnknown, TimedOut

    class PhoneUnsafeCRM(FakeCRM):
        def upsert_is_idempotent(self, draft: ContactDraft) -> bool:
            return draft.email is not None

    clock = FakeClock()
    inner = PhoneUnsafeCRM()
    pipeline = build_pipeline(
        "hubspot",
        POLICIES["hubspot"],
        registry=BreakerRegistry(),
        clock=clock,
    )
    crm = ResilientCRM(inner, pipeline)
    inner.faults.fail_next(1, TimedOut("read timeout", integration="hubspot"))
    with pytest.raises(OutcomeUnknown):
        await crm.upsert_contact(ContactDraft(phone="+40712345678"))
    inner.faults.fail_next(1, TimedOut("read timeout", integration="hubspot"))
    contact = await crm.upsert_contact(ContactDraft(email="a@example.com"))
    assert contact.email is not None
