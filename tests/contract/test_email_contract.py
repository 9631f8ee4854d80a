"""The email contract: every `EmailPort` implementation behaves as its docstring says."""

from __future__ import annotations

from typing import Any

import pytest

from portico.domain.email import Attachment, EmailMessage
from portico.domain.errors import NotFound
from portico.domain.values import Email
from portico.ports.email import EmailPort
from tests.contract.harness import MAILBOX, EmailControls, Harness


PATIENT = "ana@example.com"
COPY = "billing@clinic.example"


def _message(sender: str = MAILBOX, **changes: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "sender": sender,
        "to": (PATIENT,),
        "subject": "Your receipt",
        "text": "Thank you for your payment.",
    }
    fields.update(changes)
    return EmailMessage(**fields)


async def test_an_accepted_email_reaches_every_recipient(email: Harness[EmailPort]) -> None:
    """send returns a receipt without a message id; to and cc both receive the message."""
    assert isinstance(email.port, EmailPort)
    assert isinstance(email.controls, EmailControls)
    receipt = await email.port.send(_message(cc=(COPY,)))
    assert receipt.message_id is None
    assert receipt.provider == "graph"
    for address in (PATIENT, COPY):
        (got,) = await email.controls.delivered(address)
        assert got.subject == "Your receipt"


async def test_attachments_arrive_byte_for_byte(email: Harness[EmailPort]) -> None:
    """A PDF attached inline is delivered with its name and exact bytes."""
    pdf = Attachment("receipt.pdf", "application/pdf", b"%PDF-1.7\x00\xff" * 1000)
    await email.port.send(_message(html="<p>Paid</p>", attachments=(pdf,)))
    (got,) = await email.controls.delivered(PATIENT)
    assert got.attachments == (("receipt.pdf", pdf.content),)


async def test_an_unknown_sender_mailbox_is_not_found(email: Harness[EmailPort]) -> None:
    """A sender the tenant has no mailbox for is refused with NotFound; nothing is delivered."""
    with pytest.raises(NotFound) as caught:
        await email.port.send(_message(sender="nobody@contoso.example"))
    assert caught.value.integration == "graph"
    assert "nobody" not in str(caught.value)
    assert await email.controls.delivered(PATIENT) == []


async def test_each_send_is_a_separate_email(email: Harness[EmailPort]) -> None:
    """Two sends of the same message are two emails: the port does not dedupe."""
    message = _message()
    await email.port.send(message)
    await email.port.send(message)
    assert len(await email.controls.delivered(Email(PATIENT).address)) == 2
