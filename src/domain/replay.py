"""A claim on one event in the replay store: what the store answered, and the proof it is ours."""

from __future__ import annotations

import attrs

from .webhooks import ClaimOutcome


__all__ = ["Claim"]


@attrs.frozen
class Claim:
    """
    The answer to `ReplayStore.claim`, handed back to `complete` or `release`.

    The ``token`` identifies this very claim, not the key: when a lease runs out and another
    coroutine or worker claims the key again, the first claimant's `release` carries the old
    token and frees nothing that is not its own. Stores give an empty token to a claim that was
    not CLAIMED.
    """

    key: str
    outcome: ClaimOutcome
    token: str = attrs.field(default="", repr=False)

    @property
    def claimed(self) -> bool:
        """True when the key is ours to process (then complete or release it)."""
        return self.outcome is ClaimOutcome.CLAIMED

    def held_token(self, action: str) -> str:
        """The token of a CLAIMED claim; ValueError for a DUPLICATE or IN_FLIGHT answer."""
        if not self.claimed or not self.token:
            raise ValueError(
                f"only a CLAIMED claim can be {action} (this one is {self.outcome.value})"
            )
        return self.token
