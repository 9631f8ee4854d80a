"""The port to an AI voice-agent platform (Vapi)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.voice import Call, CallRequest
from .probe import Probed


__all__ = ["VoicePort"]


@runtime_checkable
class VoicePort(Probed, Protocol):
    """Have a voice assistant call patients back."""

    async def start_call(self, request: CallRequest) -> Call:
        """
        Place an outbound call from the assistant to ``request.to``.

        Returns:
            The call, in status QUEUED (or later), with the platform's id.

        Raises:
            InvalidRequest: the platform refused the number or the assistant.
            NotFound: the assistant does not exist.
            Conflict: the idempotency key was already used for a different request.

        Not idempotent without a key: each call rings the patient again. With
        ``request.idempotency_key``, repeating the key within 24 hours returns the call it
        started (as it is now) and rings no one; the same key on a different request raises
        Conflict.
        """
        ...

    async def get_call(self, call_id: str) -> Call:
        """
        The call with this id.

        Raises:
            NotFound: no such call.

        Idempotent (a read).
        """
        ...

    async def end_call(self, call_id: str) -> Call:
        """
        Hang up a call that is still live.

        Returns:
            The call in status ENDED (a call already over keeps its final status:
            ENDED, NOT_FOUND or DELETION_FAILED).

        Raises:
            NotFound: no such call.

        Idempotent: ending an ended call returns it unchanged.
        """
        ...
