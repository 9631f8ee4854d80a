"""What an operator did from the console: who, when, what, to which target, and how it went."""

from __future__ import annotations

import attrs


__all__ = ["OperatorAction"]

_MAX = 200  # characters kept of any field: a record is a line on a page, never a payload


def _clip(value: str) -> str:
    return value[:_MAX]


@attrs.frozen
class OperatorAction:
    """
    One recorded operator action.

    Attributes:
        at: when (epoch seconds).
        operator: who: the operator's label and the token's fingerprint, never the token.
        action: what (``requeue``, ``replay``, ``resolve``, ``breaker.open`` ...).
        target: the dead letter's id, the failed event's id, the integration.
        ok: whether it did what was asked.
        result: what came of it, in words safe to show (ids, counts, type names).
    """

    at: float
    operator: str = attrs.field(converter=_clip)
    action: str = attrs.field(converter=_clip)
    target: str = attrs.field(converter=_clip)
    ok: bool
    result: str = attrs.field(converter=_clip)
