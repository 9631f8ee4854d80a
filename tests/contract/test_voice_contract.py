"""The `VoicePort` contract, sentence by sentence, for every registered implementation."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import NotFound
from domain.voice import CallRequest, CallStatus
from ports.voice import VoicePort
from tests.contract.harness import Harness, VoiceControls


ASSISTANT = "5b0c6f2e-8a1d-4c3e-9f47-2d6a1b8e9c10"
UNKNOWN_CALL = "00000000-0000-4000-8000-000000000000"
LIVE = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


def _port(harness: Harness[Any]) -> VoicePort:
    port: VoicePort = harness.port
    return port


def _request() -> CallRequest:
    return CallRequest("+40712345678", ASSISTANT, metadata={"deal": "D-1"})


async def test_start_call_returns_a_queued_call_with_an_id(voice: Harness[Any]) -> None:
    """Starting a call returns the platform's id and a status of QUEUED or later."""
    call = await _port(voice).start_call(_request())
    assert call.id
    assert call.status in (*LIVE, CallStatus.ENDED)


async def test_start_call_is_not_idempotent(voice: Harness[Any]) -> None:
    """Starting the same request twice places two calls."""
    first = await _port(voice).start_call(_request())
    second = await _port(voice).start_call(_request())
    assert first.id != second.id


async def test_get_call_returns_the_call(voice: Harness[Any]) -> None:
    """A started call can be read back by its id, as often as wanted."""
    call = await _port(voice).start_call(_request())
    first = await _port(voice).get_call(call.id)
    second = await _port(voice).get_call(call.id)
    assert first.id == call.id
    assert first == second


async def test_get_call_follows_the_platform(voice: Harness[Any]) -> None:
    """A status the platform reports is what get_call returns."""
    controls: VoiceControls = voice.controls
    call = await _port(voice).start_call(_request())
    await controls.progress(call.id, CallStatus.RINGING)
    await controls.progress(call.id, CallStatus.IN_PROGRESS)
    assert (await _port(voice).get_call(call.id)).status is CallStatus.IN_PROGRESS


@pytest.mark.parametrize("operation", ["get_call", "end_call"])
async def test_unknown_call_raises_not_found(voice: Harness[Any], operation: str) -> None:
    """get_call and end_call raise NotFound for an id the platform never issued."""
    with pytest.raises(NotFound):
        await getattr(_port(voice), operation)(UNKNOWN_CALL)


async def test_end_call_returns_the_call_ended(voice: Harness[Any]) -> None:
    """Ending a live call returns it in status ENDED."""
    controls: VoiceControls = voice.controls
    call = await _port(voice).start_call(_request())
    await controls.progress(call.id, CallStatus.IN_PROGRESS)
    ended = await _port(voice).end_call(call.id)
    assert ended.id == call.id
    assert ended.status is CallStatus.ENDED
    assert (await _port(voice).get_call(call.id)).status is CallStatus.ENDED


async def test_end_call_is_idempotent(voice: Harness[Any]) -> None:
    """Ending an ended call returns it unchanged."""
    call = await _port(voice).start_call(_request())
    first = await _port(voice).end_call(call.id)
    second = await _port(voice).end_call(call.id)
    assert second.status is CallStatus.ENDED
    assert second.ended_reason == first.ended_reason
