"""
An in-process replay store: bounded, with leases and a retention period, for tests and one worker.

Memory is kept lean so a million remembered events fit comfortably: each key is stored as a
128-bit BLAKE2b digest (an ``int``, whatever the length of the provider's id) and completed keys
are ordered by a `collections.deque` of references rather than an ordered dict.

The bound (``max_entries``) counts live claims and completed keys together and always holds.
When it is reached, expired entries go first, then the oldest completed keys (the provider is
least likely to redeliver those). A live claim is never evicted: that would let a second worker
process the event while the first still is. When every entry is a live claim, `claim` answers
IN_FLIGHT, which tells the provider to retry later, so nothing is lost or processed twice. (A
`complete` whose claim was already purged, arriving when only others' live claims remain, is
then not remembered and counted in ``evicted``: a redelivery would be processed again, never
lost.)

One store instance is shared by every coroutine of the process: each claim gets its own token (a
counter), and `release` drops the claim only while it still holds that token, so a coroutine whose
lease expired cannot free the claim another coroutine has since taken.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import deque

from ...domain.replay import Claim
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import ClaimOutcome


__all__ = ["DEFAULT_RETENTION_SECONDS", "MemoryReplayStore"]

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600.0


def _digest(key: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big"
    )


class MemoryReplayStore:
    """
    `ReplayStore` in a dict, bounded by ``max_entries``, timed on ``clock.monotonic``.

    Args:
        max_entries: most claims plus completed keys held at once (at least 1).
        retention_seconds: how long a completed key answers DUPLICATE.
        clock: the time source (its `Clock.monotonic`); a test passes its `FakeClock`.
    """

    def __init__(
        self,
        *,
        max_entries: int = 1_000_000,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        self._max = max_entries
        self._retention = retention_seconds
        self._clock = clock.monotonic
        self._lock = threading.Lock()
        self._claims: dict[int, tuple[float, str]] = {}  # digest -> (lease deadline, token)
        self._tokens = itertools.count(1)
        self._done: dict[int, float] = {}  # digest -> retention deadline
        # Completion order; an entry is current only while _done still holds that very float.
        self._order_keys: deque[int] = deque()
        self._order_deadlines: deque[float] = deque()
        self.evicted = 0  # completed keys dropped early to keep the bound

    def __repr__(self) -> str:
        return (
            f"<MemoryReplayStore claims={len(self._claims)} completed={len(self._done)} "
            f"max_entries={self._max}>"
        )

    def __len__(self) -> int:
        return len(self._claims) + len(self._done)

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Take ``key`` unless it is completed (DUPLICATE) or claimed and unexpired (IN_FLIGHT)."""
        digest = _digest(key)
        with self._lock:
            now = self._clock()
            deadline = self._done.get(digest)
            if deadline is not None:
                if deadline > now:
                    return Claim(key, ClaimOutcome.DUPLICATE)
                del self._done[digest]
            held = self._claims.get(digest)
            if held is not None and held[0] > now:
                return Claim(key, ClaimOutcome.IN_FLIGHT)
            if held is None and not self._make_room(now):
                # Full of live claims: the provider retries later.
                return Claim(key, ClaimOutcome.IN_FLIGHT)
            token = format(next(self._tokens), "x")
            self._claims[digest] = (now + lease_seconds, token)
            return Claim(key, ClaimOutcome.CLAIMED, token)

    async def complete(self, claim: Claim) -> None:
        """Remember the claimed key as processed for the retention period."""
        claim.held_token("completed")
        digest = _digest(claim.key)
        with self._lock:
            now = self._clock()
            if (
                self._claims.pop(digest, None) is None
                and digest not in self._done
                and not self._make_room(now)
            ):
                self.evicted += 1  # full of others' live claims: see the module docstring
                return
            deadline = now + self._retention
            self._done[digest] = deadline
            self._order_keys.append(digest)
            self._order_deadlines.append(deadline)

    async def release(self, claim: Claim) -> None:
        """Drop this claim, unless the key was claimed again since (or completed)."""
        token = claim.held_token("released")
        digest = _digest(claim.key)
        with self._lock:
            held = self._claims.get(digest)
            if held is not None and held[1] == token:
                del self._claims[digest]

    def _make_room(self, now: float) -> bool:
        """Free one slot if the store is full; False when only live claims remain."""
        self._purge_expired(now)
        if len(self) < self._max:
            return True
        if self._evict_oldest_completed():
            return True
        expired = [d for d, (lease, _) in self._claims.items() if lease <= now]
        for digest in expired:
            del self._claims[digest]
        return len(self) < self._max

    def _purge_expired(self, now: float) -> None:
        keys, deadlines = self._order_keys, self._order_deadlines
        while deadlines and deadlines[0] <= now:
            digest, deadline = keys.popleft(), deadlines.popleft()
            if self._done.get(digest) is deadline:
                del self._done[digest]

    def _evict_oldest_completed(self) -> bool:
        keys, deadlines = self._order_keys, self._order_deadlines
        while keys:
            digest, deadline = keys.popleft(), deadlines.popleft()
            if self._done.get(digest) is deadline:
                del self._done[digest]
                self.evicted += 1
                return True
        return False
