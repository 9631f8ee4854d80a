"""
`FakeEmail`: an in-memory Microsoft Graph mailbox sender.

Like Graph's ``sendMail`` it accepts a message with no id (``202 Accepted`` has no body), refuses
a sender mailbox the tenant does not have (404 ``ErrorInvalidUser``) and keeps what it accepted,
so tests read the sent mail back (`sent_to`). Fault injection and the call log are `FakeBase`'s.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

import attrs

from ...domain.email import EmailMessage, EmailReceipt
from ...domain.errors import NotFound
from ...domain.values import Email
from ...ports.email import EmailPort
from ._support import FakeBase


__all__ = ["FakeEmail"]

PROVIDER = "graph"


@attrs.define(repr=False)
class FakeEmail(FakeBase, EmailPort):
    """
    Graph's ``sendMail`` as a test double you can ship.

    Args:
        mailboxes: the tenant's mailboxes that may send; None: any sender is a mailbox.
    """

    INTEGRATION: ClassVar[str] = PROVIDER

    mailboxes: Collection[str] | None = attrs.field(default=None, kw_only=True)
    sent: list[EmailMessage] = attrs.field(factory=list, init=False)

    async def send(self, message: EmailMessage) -> EmailReceipt:
        """Accept the message (no id, as Graph), or refuse an unknown sender mailbox."""
        await self.faults.before("send", message)
        if self.mailboxes is not None and message.sender.address not in {
            Email(box).address for box in self.mailboxes
        }:
            raise NotFound(
                "sendMail failed: HTTP 404: the sending mailbox does not exist",
                integration=PROVIDER,
                vendor_code="ErrorInvalidUser",
                status_code=404,
            )
        self.sent.append(message)
        return EmailReceipt(provider=PROVIDER, accepted_at=self.clock.now())

    def sent_to(self, address: Email | str) -> list[EmailMessage]:
        """Every message accepted with ``address`` among its to or cc recipients, oldest first."""
        wanted = address.address if isinstance(address, Email) else Email(address).address
        return [m for m in self.sent if wanted in {a.address for a in (*m.to, *m.cc)}]

    def _counts(self) -> dict[str, int]:
        return {"sent": len(self.sent), **super()._counts()}

    def reset(self) -> None:
        """Forget sent mail, faults and events."""
        super().reset()
        self.sent.clear()
