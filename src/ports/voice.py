"""The port to an AI voice-agent platform (Vapi)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.voice import Call, CallRequest


__all__ = ["VoicePort"]


@runtime_checkable
class VoicePort(Protocol):
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

    async def probe(self) -> None:
        """
        One cheap, authenticated read that only the vendor can answer: nothing is decided
        locally, so success proves the vendor is reachable and accepts our credentials now
        (`portico health --probe`). Reads no patient data and changes nothing.

        Raises:
            AuthenticationFailed: the vendor refused the credentials.
            PermissionDenied: the credentials lack the read this probe needs.
            NotFound: the configured account, number or resource does not exist at the vendor.
            TransientError: the vendor could not be reached or is failing.

        Idempotent (a read). An adapter that subclasses the port without implementing it
        raises NotImplementedError here, so a health check reports it instead of passing.
        """
        missing = f"{type(self).__name__} implements no probe()"
        raise NotImplementedError(missing)
