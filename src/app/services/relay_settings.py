"""
The outbox relay's knobs, in one validated value: `RelaySettings`.

Every field has the production default; a bad value fails at construction with a `ValueError`
naming the field (a `TypeError` for a value that is not a number at all). The wiring reads
``outbox.lease_seconds``, ``outbox.per_key`` and ``outbox.delivered_retention`` from the
configuration into it (`app.wiring.outbox.relay_settings`) and checks the lease against the
ports' pipelines (`app.wiring.leases.check_relay_lease`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs


__all__ = [
    "CALL_LOOKBACK",
    "DEFAULT_DELIVERED_RETENTION",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_PER_KEY",
    "RelaySettings",
]

DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_PER_KEY = 8
DEFAULT_DELIVERED_RETENTION = 7 * 86400.0
# The voice vendor's key look-back (its adapter's KEY_LOOKBACK): how far back a keyed start finds
# the call its key already started.
CALL_LOOKBACK = 24 * 3600.0


_Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def _at_least(minimum: float, *, above: bool = False) -> _Validator:
    def check(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{attr.name} must be a number, got {type(value).__name__}"
            raise TypeError(msg)
        if value < minimum or (above and value == minimum):
            msg = f"{attr.name} must be {'>' if above else '>='} {minimum:g}, got {value!r}"
            raise ValueError(msg)

    return check


def _whole(_inst: object, attr: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{attr.name} must be an integer, got {type(value).__name__}"
        raise TypeError(msg)


@attrs.frozen
class RelaySettings:
    """
    How a relay claims, waits and gives up.

    Args:
        batch_size: entries claimed at a time; also the most sent concurrently.
        per_key: consecutive commands of one ordering key a claim may take (`Outbox.claim`);
            the relay sends them one after another, other keys concurrently. 1 is one command
            per key per claim. The default 8 fills a 32-entry batch from 4 busy recipients,
            while a run stays short: 8 sequential sends at a vendor's usual sub-second latency
            end well inside the lease (a later entry is sent only while the lease has room for
            one more worst-case call), and a recipient's run never waits behind more than 7.
            The price of a longer run: a relay killed mid-run leaves its unsent commands
            looking "maybe sent" (`app.services.outbox_relay`), up to ``per_key - 1`` each.
        lease_seconds: how long a claim is exclusive. It must exceed every resilient port's worst
            case, so a slow send is never taken over while still in flight (the wiring checks
            it: `app.wiring.leases.check_relay_lease`).
        idle_delay: how long to wait when nothing is due (and after a failed claim).
        max_attempts: attempts before a transient failure becomes a dead letter.
        base_delay, max_delay, multiplier: the backoff between attempts (`domain.backoff`: a
            delay drawn from ``[0, min(max_delay, base_delay * multiplier**(n-1))]``).
        call_lookback: seconds after its first enqueue a StartCall that may already have been
            sent is dead-lettered instead of resent (the voice vendor's key look-back).
        delivered_retention: seconds a delivered command is kept before the relay purges it
            (``outbox.delivered_retention``); 0 keeps them for ever.
        purge_batch: delivered commands deleted per pass, between claims (a pass that fills
            its batch is followed by another at once, else the next one is a minute later).
    """

    batch_size: int = attrs.field(default=32, validator=[_whole, _at_least(1)])
    per_key: int = attrs.field(default=DEFAULT_PER_KEY, validator=[_whole, _at_least(1)])
    lease_seconds: float = attrs.field(
        default=DEFAULT_LEASE_SECONDS, validator=_at_least(0, above=True)
    )
    idle_delay: float = attrs.field(default=1.0, validator=_at_least(0, above=True))
    max_attempts: int = attrs.field(default=12, validator=[_whole, _at_least(1)])
    base_delay: float = attrs.field(default=1.0, validator=_at_least(0))
    max_delay: float = attrs.field(default=300.0, validator=_at_least(0))
    multiplier: float = attrs.field(default=2.0, validator=_at_least(1))
    call_lookback: float = attrs.field(default=CALL_LOOKBACK, validator=_at_least(0, above=True))
    delivered_retention: float = attrs.field(
        default=DEFAULT_DELIVERED_RETENTION, validator=_at_least(0)
    )
    purge_batch: int = attrs.field(default=500, validator=[_whole, _at_least(1)])
