"""The `VoicePort` contract, sentence by sentence, for every registered implementation."""

from __future__ import annotations

from typing import Any

import pytest

from portico.domain.errors import Conflict, InvalidRequest, NotFound
from portico.domain.values import IdempotencyKey
from portico.domain.voice import CallRequest, CallStatus
from portico.ports.voice import VoicePort
from tests.contract.harness import ASSISTANT_ID, Harness, VoiceControls


ASSISTANT = ASSISTANT_ID
UNKNOWN_ASSISTANT = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a"
REFUSED_NUMBER = "+40711000999"
UNKNOWN_CALL = "00000000-0000-4000-8000-000000000000"
LIVE = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)


def _port(harness: Harness[Any]) -> VoicePort:
    port: VoicePort = harness.port
    return port


def _request(key: IdempotencyKey | None = None, to: str = "+40712345678") -> CallRequest:
    return CallRequest(to, ASSISTANT, metadata={"deal": "D-1"}, idempotency_key=key)


async def test_start_call_returns_a_queued_call_with_an_id(voice: Harness[Any]) -> None:
    """Starting a call returns the platform's id and a status of QUEUED or later."""
    call = await _port(voice).start_call(_request())
    assert call.id
    assert call.status in (*LIVE, CallStatus.ENDED)


async def test_start_call_to_a_number_the_platform_refuses_is_invalid(
    voice: Harness[Any],
) -> None:
    """A number the platform will not dial raises InvalidRequest."""
    controls: VoiceControls = voice.controls
    await controls.refuse_number(REFUSED_NUMBER)
    with pytest.raises(InvalidRequest):
        await _port(voice).start_call(_request(to=REFUSED_NUMBER))


async def test_start_call_with_an_unknown_assistant_raises_not_found(voice: Harness[Any]) -> None:
    """An assistant the platform does not have raises NotFound."""
    with pytest.raises(NotFound):
        await _port(voice).start_call(CallRequest("+40712345678", UNKNOWN_ASSISTANT))


async def test_start_call_is_not_idempotent(voice: Harness[Any]) -> None:
    """Starting the same request twice without an idempotency key places two calls."""
    first = await _port(voice).start_call(_request())
    second = await _port(voice).start_call(_request())
    assert first.id != second.id


async def test_start_call_with_an_idempotency_key_returns_the_same_call_when_repeated(
    voice: Harness[Any],
) -> None:
    """start_call with an idempotency key returns the same call when repeated."""
    key = IdempotencyKey.new()
    first = await _port(voice).start_call(_request(key))
    second = await _port(voice).start_call(_request(key))
    assert second.id == first.id
    assert dict(second.metadata) == {"deal": "D-1"}


async def test_a_repeated_key_returns_the_call_as_it_is_now(voice: Harness[Any]) -> None:
    """A repeated keyed start returns the call with its current status, not a new one."""
    controls: VoiceControls = voice.controls
    key = IdempotencyKey.new()
    call = await _port(voice).start_call(_request(key))
    await controls.progress(call.id, CallStatus.IN_PROGRESS)
    again = await _port(voice).start_call(_request(key))
    assert again.id == call.id
    assert again.status is CallStatus.IN_PROGRESS


async def test_different_keys_place_different_calls(voice: Harness[Any]) -> None:
    """Two keys for the same patient are two calls."""
    first = await _port(voice).start_call(_request(IdempotencyKey.new()))
    second = await _port(voice).start_call(_request(IdempotencyKey.new()))
    assert first.id != second.id


async def test_a_key_reused_for_another_request_raises_conflict(voice: Harness[Any]) -> None:
    """The same key with a different number raises Conflict."""
    key = IdempotencyKey.new()
    await _port(voice).start_call(_request(key))
    with pytest.raises(Conflict):
        await _port(voice).start_call(_request(key, to="+40745987654"))


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


async def test_probe_answers_and_changes_nothing(voice: Harness[Any]) -> None:
    """The health read answers, again and again, and a call is left as it was."""
    port = _port(voice)
    call = await port.start_call(_request())
    await port.probe()
    await port.probe()
    assert (await port.get_call(call.id)).status == call.status
