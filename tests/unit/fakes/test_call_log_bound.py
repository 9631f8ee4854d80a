"""The fakes' call log keeps the newest calls only, so a long-running fake stays bounded."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeMessaging, Faults
from portico.adapters.fakes._support import DEFAULT_MAX_CALLS
from portico.domain.messaging import TemplateMessage


PATIENT = "+40712345678"


async def test_the_log_keeps_the_newest_max_calls_and_counts_the_rest() -> None:
    """Past max_calls the oldest calls are forgotten and counted; the newest stay in order."""
    wa = FakeMessaging(faults=Faults(max_calls=3))
    for n in range(5):
        await wa.send(TemplateMessage(PATIENT, f"t{n}"))
    assert [c.args[0].template for c in wa.calls] == ["t2", "t3", "t4"]
    assert len(wa.faults.calls_to("send")) == 3
    assert wa.faults.forgotten == 2
    wa.reset()
    assert (wa.calls, wa.faults.forgotten) == ([], 0)


async def test_the_default_bound_is_generous_and_the_log_is_a_list_copy() -> None:
    """By default 10,000 calls are kept; `calls` is a list copy, so slicing and == [] work."""
    faults = Faults()
    assert faults.max_calls == DEFAULT_MAX_CALLS == 10_000
    assert faults.calls == []
    await faults.before("send", "payload")
    snapshot = faults.calls
    snapshot.clear()
    assert [c.operation for c in faults.calls[-1:]] == ["send"]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_calls_must_be_a_positive_int(bad: object) -> None:
    """A bound that is not a positive int is refused at construction."""
    with pytest.raises(ValueError, match="max_calls"):
        Faults(max_calls=bad)  # type: ignore[arg-type]
