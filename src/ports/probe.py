"""
`Probed`: what every vendor port offers ``portico health --probe``, stated once for all.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


__all__ = ["Probed"]


@runtime_checkable
class Probed(Protocol):
    """A port whose vendor can be asked, cheaply and harmlessly, whether it answers us now."""

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
