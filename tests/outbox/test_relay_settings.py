"""The relay's knobs are one validated value, and its verdicts are an enum."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from portico.adapters.resilience import RetryPolicy
from portico.app.services.relay_settings import RelaySettings
from portico.app.services.relay_verdicts import Verdict, after_failure
from portico.domain.commands import SendMessage
from portico.domain.errors import Unavailable
from portico.domain.messaging import TemplateMessage
from portico.domain.outbox import EntryState, OutboxEntry
from portico.domain.values import IdempotencyKey


def _only(field: str, value: object) -> dict[str, Any]:
    """Keyword arguments setting one knob (to a value of the wrong type, in these tests)."""
    return {field: value}


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("batch_size", 0),
        ("lease_seconds", 0),
        ("lease_seconds", -1.0),
        ("idle_delay", 0),
        ("max_attempts", 0),
        ("base_delay", -0.5),
        ("max_delay", -1),
        ("multiplier", 0.5),
        ("call_lookback", 0),
    ],
)
def test_an_out_of_range_value_is_refused_by_name(field: str, bad: float) -> None:
    """A bad knob fails at construction, and the error names it."""
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        RelaySettings(**_only(field, bad))


@pytest.mark.parametrize(("field", "bad"), [("batch_size", 2.5), ("max_attempts", True)])
def test_a_count_must_be_an_integer(field: str, bad: object) -> None:
    """Batch size and attempts are whole numbers (a bool is not one)."""
    with pytest.raises(TypeError, match=rf"^{field} must be an integer"):
        RelaySettings(**_only(field, bad))


def test_a_non_number_is_a_type_error_naming_the_field() -> None:
    """A string where seconds belong is refused, not compared."""
    with pytest.raises(TypeError, match=r"^lease_seconds must be a number"):
        RelaySettings(lease_seconds="120")  # type: ignore[arg-type]


def test_settings_are_frozen_and_evolve_revalidates() -> None:
    """A relay's settings cannot change under it; a copy with a change is validated again."""
    settings = RelaySettings()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.batch_size = 1  # type: ignore[misc]
    assert attrs.evolve(settings, batch_size=8).batch_size == 8
    with pytest.raises(ValueError, match="batch_size"):
        attrs.evolve(settings, batch_size=0)


def test_only_a_retry_spends_an_attempt() -> None:
    """Release and pause refund the claim's attempt; a dead letter is not rescheduled at all."""
    assert [v for v in Verdict if v.attempted] == [Verdict.RETRY]
    assert {v.value for v in Verdict} == {"retry", "release", "pause", "dead"}


@pytest.mark.parametrize("retry", [1, 2, 5, 11])
def test_the_relay_and_in_call_retries_share_one_backoff(retry: int) -> None:
    """The relay's wait before retry n is the resilience policy's, for the same knobs."""
    top = lambda low, high: high  # noqa: E731 - the ceiling of each draw
    policy = RetryPolicy(base_delay=1.0, max_delay=300.0, multiplier=2.0, uniform=top)
    command = SendMessage(TemplateMessage("+40712345678", "reminder"), IdempotencyKey("k"))
    entry = OutboxEntry(
        id="e1",
        seq=1,
        kind=command.kind,
        integration=command.integration,
        ordering_key=command.ordering_key,
        idempotency_key="k",
        payload="{}",
        state=EntryState.PENDING,
        attempts=retry,
        enqueued_at=0.0,
        available_at=0.0,
    )
    unsent = Unavailable("503", integration="whatsapp", request_sent=False)
    decision = after_failure(entry, command, unsent, RelaySettings(), uniform=top)
    assert decision.verdict is Verdict.RETRY
    assert decision.delay == policy.backoff(retry) == min(300.0, 2.0 ** (retry - 1))
