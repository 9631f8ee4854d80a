"""Old commands: a legacy checkout keeps one expiry; a StartCall past Vapi's look-back is parked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from portico.adapters.fakes import FakePayments, FakeVoice
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import CALL_LOOKBACK
from portico.domain.command_codec import decode_command, encode_command
from portico.domain.commands import CreateCheckoutLink, StartCall
from portico.domain.errors import Unavailable
from portico.domain.outbox import EntryState
from portico.domain.payments import CheckoutLink, CheckoutRequest
from portico.domain.values import IdempotencyKey, Money
from portico.domain.voice import Call, CallRequest
from portico.ports.execute import CommandPorts
from portico.ports.voice import VoicePort


ENQUEUED = 1_700_000_000.0
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"


def _legacy_checkout() -> str:
    request = CheckoutRequest(
        Money.of("150.00", "EUR"),
        "Consultation",
        "P-1",
        "https://x.example/ok",
        None,
        IdempotencyKey("co-1"),
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    stored = json.loads(encode_command(CreateCheckoutLink(request)))
    del stored["request"]["created_at"]  # written before created_at existed
    return json.dumps(stored)


def test_a_legacy_checkout_is_dated_by_its_enqueue_time() -> None:
    """Every decode with the row's enqueued_at gives the same created_at, so one expires_at."""
    first = decode_command(_legacy_checkout(), enqueued_at=ENQUEUED)
    again = decode_command(_legacy_checkout(), enqueued_at=ENQUEUED)
    assert isinstance(first, CreateCheckoutLink)
    assert isinstance(again, CreateCheckoutLink)
    assert first.request.created_at == datetime.fromtimestamp(ENQUEUED, UTC)
    assert first.request.expires_at == again.request.expires_at


class _FlakyCheckouts(FakePayments):
    """Records each checkout's expiry; the first attempt fails before reaching Stripe."""

    def __init__(self) -> None:
        super().__init__()
        self.expiries: list[datetime] = []

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        self.expiries.append(request.expires_at)
        if len(self.expiries) == 1:
            raise Unavailable("503", integration="stripe", request_sent=False)
        return await super().create_checkout_link(request)


async def test_every_relay_retry_of_a_legacy_checkout_sends_one_expiry(tmp_path, clock) -> None:
    """The relay dates a legacy checkout by its row, so a retry repeats the same expires_at."""
    box = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    entry_id = await box.enqueue(decode_command(_legacy_checkout()))
    conn = box._worker.connection()  # rewrite the row as a pre-created_at one
    conn.execute("UPDATE portico_outbox SET payload = ?", (_legacy_checkout(),))
    payments = _FlakyCheckouts()
    relay = OutboxRelay(box, CommandPorts(payments=payments), clock=clock)
    await relay.run(until_idle=True)
    entry = await box.get(entry_id)
    await box.close()
    assert entry is not None
    assert entry.state is EntryState.DELIVERED
    first, second = payments.expiries
    assert first == second
    assert first == datetime.fromtimestamp(entry.enqueued_at, UTC) + timedelta(
        seconds=CheckoutRequest(
            Money.of("1.00", "EUR"), "x", "p", "https://x.example", None, IdempotencyKey("k")
        ).expires_in_seconds
    )


class _DownThenUp(VoicePort):
    """Vapi answers 503 (nothing placed) on the first start, then places calls."""

    def __init__(self) -> None:
        self.inner = FakeVoice()
        self.starts = 0

    async def start_call(self, request: CallRequest) -> Call:
        self.starts += 1
        if self.starts == 1:
            raise Unavailable("503", integration="vapi", request_sent=False)
        return await self.inner.start_call(request)

    async def get_call(self, call_id: str) -> Call:
        return await self.inner.get_call(call_id)

    async def end_call(self, call_id: str) -> Call:
        return await self.inner.end_call(call_id)


def _call() -> StartCall:
    return StartCall(CallRequest("+40712345678", ASSISTANT), IdempotencyKey("call-1"))


async def test_a_retried_start_call_past_the_lookback_is_dead_lettered(tmp_path, clock) -> None:
    """A StartCall retried more than 24 h after its first enqueue is parked, not rung again."""
    box = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    voice = _DownThenUp()
    relay = OutboxRelay(box, CommandPorts(voice=voice), clock=clock)
    entry_id = await box.enqueue(_call())
    assert await relay.run_once() == 1  # the 503: retried later
    clock.advance(CALL_LOOKBACK + 60)
    assert await relay.run_once() == 1
    entry = await box.get(entry_id)
    await box.close()
    assert entry is not None
    assert entry.state is EntryState.DEAD
    assert entry.last_error is not None
    assert "too old to reconcile safely" in entry.last_error
    assert voice.starts == 1


async def test_a_first_start_call_delayed_past_the_lookback_is_sent(tmp_path, clock) -> None:
    """A StartCall never attempted before is sent however old it is: nobody was rung yet."""
    box = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    voice = _DownThenUp()
    voice.starts = 1  # no 503
    relay = OutboxRelay(box, CommandPorts(voice=voice), clock=clock)
    entry_id = await box.enqueue(_call(), delay=CALL_LOOKBACK + 3600)
    clock.advance(CALL_LOOKBACK + 3600)
    assert await relay.run_once() == 1
    entry = await box.get(entry_id)
    await box.close()
    assert entry is not None
    assert entry.state is EntryState.DELIVERED
