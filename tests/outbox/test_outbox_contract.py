"""One contract for every Outbox: SQLite (embedded) and PostgreSQL run the same tests."""

from __future__ import annotations

import pytest

from portico.domain.command_codec import decode_command
from portico.domain.commands import AddNote, SendMessage
from portico.domain.errors import Conflict
from portico.domain.messaging import TextMessage
from portico.domain.outbox import EntryState, OutboxEntry, OutboxStatus
from portico.domain.values import IdempotencyKey
from portico.ports.outbox import Outbox


def msg(to: str = "+40712345678", body: str = "hi", key: str | None = None) -> SendMessage:
    return SendMessage(TextMessage(to, body), IdempotencyKey(key) if key else IdempotencyKey.new())


def note(contact: str = "c1", key: str | None = None) -> AddNote:
    return AddNote(contact, "call summary", IdempotencyKey(key) if key else IdempotencyKey.new())


async def test_enqueued_command_is_claimed_intact(make_outbox):
    """A claimed entry decodes to the command enqueued, with one attempt and a lease."""
    box = make_outbox()
    command = msg()
    entry_id = await box.enqueue(command)
    [entry] = await box.claim(limit=10, lease_seconds=30)
    assert entry.id == entry_id
    assert decode_command(entry.payload) == command
    assert entry.attempts == 1
    assert entry.lease_token is not None
    assert entry.state is EntryState.PENDING
    assert entry.integration == "messaging"


async def test_same_key_is_accepted_once(make_outbox):
    """Enqueueing the same command twice stores it once; another command on the key conflicts."""
    box = make_outbox()
    first = await box.enqueue(msg(key="k1"))
    assert await box.enqueue(msg(key="k1")) == first
    with pytest.raises(Conflict):
        await box.enqueue(msg(body="other", key="k1"))
    assert (await box.status()).pending == 1


async def test_lease_is_exclusive_until_it_expires(make_outbox, clock):
    """A leased entry is not claimed again until the lease expires; the stale lease loses."""
    box = make_outbox()
    await box.enqueue(msg())
    [first] = await box.claim(limit=10, lease_seconds=30)
    assert await box.claim(limit=10, lease_seconds=30) == []
    clock.advance(31)
    [second] = await box.claim(limit=10, lease_seconds=30)
    assert second.id == first.id
    assert second.attempts == 2
    assert not await box.mark_delivered(first)
    assert await box.mark_delivered(second)
    assert (await box.get(first.id)).state is EntryState.DELIVERED


async def test_one_entry_per_subject_in_enqueue_order(make_outbox):
    """Claims hand out only the oldest pending command per recipient, in order."""
    box = make_outbox()
    a1, a2, a3 = msg(body="1"), msg(body="2"), msg(body="3")
    b1 = msg(to="+40799999999")
    for c in (a1, a2, b1, a3):
        await box.enqueue(c)
    batch = await box.claim(limit=10, lease_seconds=30)
    assert [decode_command(e.payload) for e in batch] == [a1, b1]
    assert await box.claim(limit=10, lease_seconds=30) == []
    await box.mark_delivered(batch[0])
    [nxt] = await box.claim(limit=10, lease_seconds=30)
    assert decode_command(nxt.payload) == a2


async def test_retry_waits_for_its_delay_and_keeps_the_line(make_outbox, clock):
    """A retried entry is due only after its delay, and the next one of its subject waits too."""
    box = make_outbox()
    await box.enqueue(msg(body="1"))
    await box.enqueue(msg(body="2"))
    [entry] = await box.claim(limit=10, lease_seconds=30)
    assert await box.schedule_retry(entry, delay=60, error="Unavailable: 503")
    assert await box.claim(limit=10, lease_seconds=30) == []
    clock.advance(60)
    [again] = await box.claim(limit=10, lease_seconds=30)
    assert again.id == entry.id
    assert again.attempts == 2
    assert again.last_error == "Unavailable: 503"


async def test_unattempted_release_refunds_the_attempt(make_outbox):
    """A release with attempted=False (breaker open) does not count as an attempt."""
    box = make_outbox()
    await box.enqueue(msg())
    [entry] = await box.claim(limit=10, lease_seconds=30)
    await box.schedule_retry(entry, delay=0, error="circuit open", attempted=False)
    [again] = await box.claim(limit=10, lease_seconds=30)
    assert again.attempts == 1


async def test_a_release_without_an_error_keeps_the_last_one(make_outbox):
    """error=None (an entry given back unsent) leaves the recorded error as it was."""
    box = make_outbox()
    await box.enqueue(msg())
    [entry] = await box.claim(limit=10, lease_seconds=30)
    assert await box.schedule_retry(entry, delay=0, error="Unavailable: 503")
    [again] = await box.claim(limit=10, lease_seconds=30)
    assert await box.schedule_retry(again, delay=0, error=None, attempted=False)
    [third] = await box.claim(limit=10, lease_seconds=30)
    assert (third.last_error, third.attempts) == ("Unavailable: 503", 2)


async def test_dead_letters_keep_reason_release_the_line_and_requeue(make_outbox):
    """A dead letter is listed with its reason, unblocks its subject and can be requeued."""
    box = make_outbox()
    await box.enqueue(note(key="n1"))
    await box.enqueue(note(key="n2"))
    [entry] = await box.claim(limit=10, lease_seconds=30)
    assert await box.dead_letter(entry, reason="hubspot: contact not found [404]")
    [dead] = await box.dead_letters()
    assert dead.id == entry.id
    assert dead.last_error == "hubspot: contact not found [404]"
    [nxt] = await box.claim(limit=10, lease_seconds=30)
    assert nxt.idempotency_key == "n2"
    await box.mark_delivered(nxt)
    assert await box.requeue(entry.id)
    assert not await box.requeue(entry.id)
    [again] = await box.claim(limit=10, lease_seconds=30)
    assert again.id == entry.id
    assert again.attempts == 1


async def test_requeue_all_and_purge(make_outbox):
    """requeue_all revives every dead letter of an integration; purge deletes dead letters only."""
    box = make_outbox()
    for i in range(3):
        await box.enqueue(note(contact=f"c{i}"))
    await box.enqueue(msg())
    for entry in await box.claim(limit=10, lease_seconds=30):
        await box.dead_letter(entry, reason="boom")
    assert len(await box.dead_letters(integration="crm")) == 3
    assert await box.requeue_all(integration="crm") == 3
    assert len(await box.dead_letters()) == 1
    [dead] = await box.dead_letters()
    assert await box.purge_dead(dead.id) == 1
    assert await box.get(dead.id) is None
    assert await box.purge_dead() == 0
    assert (await box.status()).pending == 3


async def test_status_counts_per_integration(make_outbox, clock):
    """Status reports pending, in flight, dead, delivered and the oldest age per integration."""
    box = make_outbox()
    await box.enqueue(msg(body="1"))
    await box.enqueue(msg(to="+40799999999"))
    await box.enqueue(note())
    clock.advance(90)
    entries = await box.claim(limit=10, lease_seconds=30, integrations=["messaging"])
    assert {e.integration for e in entries} == {"messaging"}
    await box.mark_delivered(entries[0])
    status = await box.status()
    by = {b.integration: b for b in status.integrations}
    assert (by["messaging"].pending, by["messaging"].in_flight) == (1, 1)
    assert by["messaging"].delivered == 1
    assert by["crm"].pending == 1
    assert status.pending == 2
    assert status.oldest_age == pytest.approx(90)
    assert await box.claim(limit=10, lease_seconds=30, integrations=[]) == []


async def test_entries_survive_reopening(make_outbox):
    """A new outbox on the same store sees what an earlier one accepted."""
    first = make_outbox()
    entry_id = await first.enqueue(msg())
    await first.close()
    second = make_outbox()
    [entry] = await second.claim(limit=10, lease_seconds=30)
    assert entry.id == entry_id


async def test_entry_repr_hides_the_payload(make_outbox):
    """An entry's repr never shows the message body or the phone number."""
    box = make_outbox()
    await box.enqueue(msg(body="secret diagnosis"))
    [entry] = await box.claim(limit=1, lease_seconds=30)
    assert "secret" not in repr(entry)
    assert "712345678" not in repr(entry)


# ------------------------------------------------------------ a batch of deliveries at once


def _delivered(status: OutboxStatus, integration: str = "messaging") -> int:
    return next(b.delivered for b in status.integrations if b.integration == integration)


async def test_many_deliveries_are_recorded_at_once(any_outbox):
    """Every entry of a claimed batch is recorded, counted once, and each line moves on."""
    box = any_outbox
    a1, a2, b1, c1 = msg(body="a1"), msg(body="a2"), msg(to="+40711111111"), note()
    for c in (a1, a2, b1, c1):
        await box.enqueue(c)
    batch = await box.claim(limit=10, lease_seconds=30)
    assert [decode_command(e.payload) for e in batch] == [a1, b1, c1]
    assert await box.mark_delivered_many(batch) == {e.id for e in batch}
    for entry in batch:
        assert (await box.get(entry.id)).state is EntryState.DELIVERED
    [nxt] = await box.claim(limit=10, lease_seconds=30)  # the heads moved to a2
    assert decode_command(nxt.payload) == a2
    status = await box.status()
    assert (_delivered(status), _delivered(status, "crm")) == (2, 1)
    assert status.pending == 1
    assert await box.mark_delivered_many([]) == set()


async def test_a_batch_records_around_a_lease_taken_over(any_outbox, clock):
    """Of a batch with one lease taken over, the others are recorded and that one is untouched."""
    box = any_outbox
    for n in range(3):
        await box.enqueue(msg(to=f"+4071000000{n}"))
    [lost] = await box.claim(limit=1, lease_seconds=10)
    kept = await box.claim(limit=10, lease_seconds=60)
    clock.advance(11)
    [taker] = await box.claim(limit=10, lease_seconds=60)
    assert taker.id == lost.id
    assert taker.lease_expired
    assert await box.mark_delivered_many([lost, *kept]) == {e.id for e in kept}
    stored = await box.get(lost.id)
    assert (stored.state, stored.lease_token) == (EntryState.PENDING, taker.lease_token)
    assert _delivered(await box.status()) == 2
    assert await box.mark_delivered_many([taker]) == {taker.id}
    assert await box.mark_delivered_many([taker, *kept]) == set()  # recorded once, not again
    assert _delivered(await box.status()) == 3


async def test_a_batch_proves_delivery_over_a_lease_expiry_dead_letter(any_outbox, clock):
    """The holder whose lease ran out records its batch, the dead-lettered entry included."""
    box = any_outbox
    await box.enqueue(msg(to="+40710000000"))
    await box.enqueue(msg(to="+40710000001"))
    first, second = await box.claim(limit=10, lease_seconds=30)
    clock.advance(31)
    [taker] = await box.claim(limit=1, lease_seconds=30)
    assert taker.id == first.id
    assert await box.dead_letter(taker, reason="maybe sent")
    assert await box.mark_delivered_many([first, second]) == {first.id, second.id}
    assert (await box.get(first.id)).state is EntryState.DELIVERED
    assert await box.dead_letters() == []
    assert _delivered(await box.status()) == 2


async def test_an_entry_listed_twice_is_recorded_and_counted_once(any_outbox):
    """Duplicates in the list change nothing: one delivery, one count."""
    box = any_outbox
    await box.enqueue(msg())
    [entry] = await box.claim(limit=1, lease_seconds=30)
    assert await box.mark_delivered_many([entry, entry]) == {entry.id}
    assert _delivered(await box.status()) == 1


# ------------------------------------------------------------ runs: several commands per key


def _bodies(batch: list[OutboxEntry]) -> list[str]:
    """The message bodies of a batch, in its order."""
    bodies = []
    for entry in batch:
        command = decode_command(entry.payload)
        assert isinstance(command, SendMessage)
        assert isinstance(command.message, TextMessage)
        bodies.append(command.message.body)
    return bodies


async def _enqueue(box: Outbox, to: str, *bodies: str, delay: float = 0.0) -> None:
    for body in bodies:
        await box.enqueue(msg(to=to, body=body), delay=delay)


A, B, C = "+40711111111", "+40722222222", "+40733333333"


async def test_a_claim_takes_a_run_of_consecutive_commands_per_key_in_order(make_outbox):
    """per_key=3 takes each key's three oldest, in seq order; the rest wait behind the run."""
    box = make_outbox()
    await _enqueue(box, A, "a1", "a2")
    await _enqueue(box, B, "b1")
    await _enqueue(box, A, "a3", "a4", "a5")
    batch = await box.claim(limit=10, lease_seconds=30, per_key=3)
    assert _bodies(batch) == ["a1", "a2", "b1", "a3"]
    assert all(e.attempts == 1 and e.lease_token for e in batch)
    assert len({e.lease_token for e in batch}) == 4
    assert await box.claim(limit=10, lease_seconds=30, per_key=3) == []
    assert (await box.status()).in_flight == 2  # one per key: the heads are what is leased
    assert await box.mark_delivered_many(batch) == {e.id for e in batch}
    assert _bodies(await box.claim(limit=10, lease_seconds=30, per_key=3)) == ["a4", "a5"]


async def test_a_run_stops_at_its_first_command_not_yet_due(make_outbox, clock):
    """A command not due yet ends its key's run there, even when later ones are due."""
    box = make_outbox()
    await _enqueue(box, A, "a1")
    await _enqueue(box, A, "a2", delay=60)
    await _enqueue(box, A, "a3")
    [first] = await box.claim(limit=10, lease_seconds=30, per_key=5)
    assert _bodies([first]) == ["a1"]
    assert await box.mark_delivered(first)
    assert await box.claim(limit=10, lease_seconds=30, per_key=5) == []  # a2 is the head now
    clock.advance(60)
    assert _bodies(await box.claim(limit=10, lease_seconds=30, per_key=5)) == ["a2", "a3"]


async def test_a_retried_command_behind_the_head_ends_the_run(make_outbox, clock):
    """A run taken after a retry with a delay stops before the retried command."""
    box = make_outbox()
    await _enqueue(box, A, "a1", "a2", "a3")
    a1, a2, a3 = await box.claim(limit=10, lease_seconds=30, per_key=3)
    assert await box.schedule_retry(a1, delay=0, error="release", attempted=False)
    assert await box.schedule_retry(a2, delay=60, error="503")
    assert await box.schedule_retry(a3, delay=0, error="release", attempted=False)
    again = await box.claim(limit=10, lease_seconds=30, per_key=3)
    assert [e.id for e in again] == [a1.id]
    assert again[0].attempts == 1  # the release refunded the first claim's attempt


async def test_the_batch_is_cut_round_robin_across_keys(make_outbox):
    """limit=5 of runs 4+4+1: every key keeps its head, then second places, in seq order."""
    box = make_outbox()
    await _enqueue(box, A, "a1", "a2", "a3", "a4")
    await _enqueue(box, B, "b1", "b2", "b3", "b4")
    await _enqueue(box, C, "c1")
    batch = await box.claim(limit=5, lease_seconds=30, per_key=4)
    assert _bodies(batch) == ["a1", "a2", "b1", "b2", "c1"]
    batch = await box.claim(limit=2, lease_seconds=30, per_key=4)
    assert batch == []  # all three keys are held by the first claim's runs


async def test_more_keys_than_the_limit_take_the_oldest_heads_only(make_outbox):
    """With as many keys as the limit, the batch is heads only, oldest first."""
    box = make_outbox()
    await _enqueue(box, A, "a1", "a2")
    await _enqueue(box, B, "b1", "b2")
    assert _bodies(await box.claim(limit=2, lease_seconds=30, per_key=8)) == ["a1", "b1"]


async def test_the_next_command_of_a_settled_head_keeps_the_runs_lease(make_outbox):
    """Two outboxes on one store: a run's rows stay out of reach of the other while it is held."""
    first, second = make_outbox(), make_outbox()
    await _enqueue(first, A, "a1", "a2", "a3", "a4")
    await _enqueue(first, B, "b1")
    a1, a2, a3, b1 = await first.claim(limit=10, lease_seconds=30, per_key=3)
    assert await second.claim(limit=10, lease_seconds=30, per_key=3) == []
    assert await first.mark_delivered_many([a1, b1]) == {a1.id, b1.id}
    assert await second.claim(limit=10, lease_seconds=30, per_key=3) == []  # a2 is held
    assert await first.dead_letter(a2, reason="vendor said no")
    assert await second.claim(limit=10, lease_seconds=30, per_key=3) == []  # a3 is held
    assert await first.schedule_retry(a3, delay=0, error="release", attempted=False)
    taken = await second.claim(limit=10, lease_seconds=30, per_key=3)
    assert _bodies(taken) == ["a3", "a4"]


async def test_a_released_head_is_claimed_without_the_rest_of_the_live_run(make_outbox):
    """After the head of a run is retried, another claim gets the head, never the held rest."""
    first, second = make_outbox(), make_outbox()
    await _enqueue(first, A, "a1", "a2", "a3", "a4")
    a1, a2, a3 = await first.claim(limit=10, lease_seconds=30, per_key=3)
    assert await first.schedule_retry(a1, delay=0, error="503")
    [head] = await second.claim(limit=10, lease_seconds=30, per_key=3)
    assert head.id == a1.id
    assert await first.schedule_retry(a2, delay=0, error="release", attempted=False)
    assert await first.schedule_retry(a3, delay=0, error="release", attempted=False)
    assert await first.claim(limit=10, lease_seconds=30, per_key=3) == []  # a1 is held again
    assert await second.mark_delivered(head)
    assert _bodies(await first.claim(limit=10, lease_seconds=30, per_key=3)) == ["a2", "a3", "a4"]


async def test_an_expired_run_comes_back_whole_as_lease_expired(make_outbox, clock):
    """A run whose relay died is claimed again after the lease, every entry marked expired."""
    box = make_outbox()
    await _enqueue(box, A, "a1", "a2", "a3")
    held = await box.claim(limit=10, lease_seconds=30, per_key=2)
    clock.advance(31)
    again = await box.claim(limit=10, lease_seconds=30, per_key=2)
    assert [e.id for e in again] == [e.id for e in held]
    assert all(e.lease_expired and e.attempts == 2 for e in again)
    assert not await box.mark_delivered(held[0])
