"""
Email as values: a message sent from a clinic's mailbox, its attachments, and the receipt.

Sizes follow Microsoft Graph's ``sendMail``, the strictest vendor Portico speaks: a request is
limited to about 4 MB, and a file attached inline (``fileAttachment`` with base64
``contentBytes``, a third larger on the wire) must be under 3 MB, so the attachments of one
message total at most `MAX_ATTACHMENT_BYTES` (3 MiB); larger files need an upload session,
which this port does not offer. (Microsoft Learn, "Attach large files to Outlook messages":
"If the file size is under 3 MB, do a single POST".)

Addresses, the subject, the bodies and the attachments are patient data: no repr shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from . import _validation as v
from .errors import InvalidValue
from .values import Email, IdempotencyKey


__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MAX_RECIPIENTS",
    "Attachment",
    "EmailMessage",
    "EmailReceipt",
]

MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024
MAX_RECIPIENTS = 100
MAX_BODY_LENGTH = 1_000_000


def _addresses(raw: object) -> tuple[Email, ...]:
    if isinstance(raw, Email | str):
        raw = (raw,)
    if not isinstance(raw, list | tuple):
        raise InvalidValue("recipients", "must be a list of email addresses")
    return tuple(
        item if isinstance(item, Email) else Email.parse(item, field="recipient") for item in raw
    )


def _attachments(raw: Iterable[Attachment]) -> tuple[Attachment, ...]:
    files = tuple(raw)
    if not all(isinstance(item, Attachment) for item in files):
        raise InvalidValue("attachments", "must be Attachment values")
    return files


def _sender(raw: object) -> Email:
    return raw if isinstance(raw, Email) else Email.parse(raw, field="sender")


def _content(_inst: object, _attr: attrs.Attribute[bytes], value: bytes) -> None:
    if not isinstance(value, bytes):
        raise InvalidValue("attachment.content", "must be bytes")
    if len(value) > MAX_ATTACHMENT_BYTES:
        raise InvalidValue("attachment.content", "is over 3 MB (Graph's inline attachment limit)")


def _content_type(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if "/" not in value or not value.isascii():
        raise InvalidValue("attachment.content_type", "must be a MIME type such as application/pdf")


@attrs.frozen
class Attachment:
    """A file sent inline with the message (an invoice PDF); its name and bytes are not shown."""

    filename: str = attrs.field(validator=v.text(max_length=255), repr=False)
    content_type: str = attrs.field(validator=[v.text(max_length=255), _content_type])
    content: bytes = attrs.field(validator=_content, repr=False)

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.content)


@attrs.frozen
class EmailMessage:
    """
    One email from a clinic's mailbox.

    Args:
        sender: the mailbox it is sent from (Graph: the user whose ``sendMail`` is called).
        to: one or more recipients; ``cc`` more (together at most `MAX_RECIPIENTS`).
        subject: the subject line (one line, up to 255 characters).
        text / html: the body as plain text and/or HTML; at least one. A vendor that carries
            one body (Graph) sends the HTML when both are given.
        attachments: files sent inline, together at most `MAX_ATTACHMENT_BYTES`.
        idempotency_key: the outbox command's key, for adapters that can pass it on.
    """

    sender: Email = attrs.field(converter=_sender, repr=False)
    to: tuple[Email, ...] = attrs.field(converter=_addresses, repr=False)
    subject: str = attrs.field(validator=v.text(max_length=255), repr=False)
    text: str | None = attrs.field(
        default=None, validator=v.optional_text(max_length=MAX_BODY_LENGTH), repr=False
    )
    html: str | None = attrs.field(
        default=None, validator=v.optional_text(max_length=MAX_BODY_LENGTH), repr=False
    )
    cc: tuple[Email, ...] = attrs.field(default=(), converter=_addresses, repr=False)
    attachments: tuple[Attachment, ...] = attrs.field(
        default=(), converter=_attachments, repr=False
    )
    idempotency_key: IdempotencyKey | None = attrs.field(
        default=None, validator=v.optional_of_type(IdempotencyKey)
    )

    def __attrs_post_init__(self) -> None:
        if not self.to:
            raise InvalidValue("to", "needs at least one recipient")
        if len(self.to) + len(self.cc) > MAX_RECIPIENTS:
            raise InvalidValue("to", f"at most {MAX_RECIPIENTS} recipients with cc")
        if self.text is None and self.html is None:
            raise InvalidValue("body", "give text, html or both")
        if "\n" in self.subject or "\r" in self.subject:
            raise InvalidValue("subject", "must be one line")
        if sum(item.size for item in self.attachments) > MAX_ATTACHMENT_BYTES:
            raise InvalidValue("attachments", "are over 3 MB together (Graph's inline limit)")

    @property
    def attachment_bytes(self) -> int:
        """The attachments' total size."""
        return sum(item.size for item in self.attachments)


@attrs.frozen
class EmailReceipt:
    """
    The vendor accepted the message for delivery.

    Args:
        provider: who accepted it ("graph").
        accepted_at: when (the vendor's answer, on the container's clock).
        message_id: the vendor's id when it gives one; None for Graph's ``sendMail``, which
            answers 202 Accepted with no body.
    """

    provider: str = attrs.field(validator=v.text(max_length=64))
    accepted_at: datetime = attrs.field(validator=v.of_type(datetime))
    message_id: str | None = attrs.field(default=None, validator=v.optional_text(max_length=512))
