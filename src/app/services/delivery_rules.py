"""
The one "maybe applied" rule: may the vendor have acted on a request that failed?

Send-now (`app.services.outbox_dispatch`) and the relay (`app.services.outbox_relay`) both ask it
before a command goes out again: a command the vendor may already have applied is sent again only
when it is ``redeliverable`` (the vendor dedupes it by its idempotency key, or it is a write by
id); any other is never sent twice, because a second copy could reach the patient.

The vendor may have acted when the failure (the last attempt's, for `RetryExhaustedError`) is an
`OutcomeUnknown`, or an `IntegrationError` raised after the request was sent (``request_sent``:
a timeout, a dropped connection, a 5xx). A refusal before sending (`LocalRejection`, a 429) and
a failure that is not an `IntegrationError` at all (a bug, caught by the relay) were not applied.
"""

from __future__ import annotations

from ...domain.commands import Command
from ...domain.errors import IntegrationError, OutcomeUnknown, RetryExhaustedError


__all__ = ["may_send_again", "maybe_applied"]


def maybe_applied(err: BaseException) -> bool:
    """Whether the vendor may have acted on the request that ended in ``err``."""
    root = err.last_error if isinstance(err, RetryExhaustedError) else err
    return isinstance(root, OutcomeUnknown) or (
        isinstance(root, IntegrationError) and root.request_sent
    )


def may_send_again(command: Command, err: BaseException) -> bool:
    """Whether sending ``command`` again after ``err`` cannot make the vendor apply it twice."""
    return command.redeliverable or not maybe_applied(err)
