"""
Microsoft Graph change notifications: the endpoint validation handshake and ``clientState``.

Graph signs nothing. It proves a delivery in two ways (Microsoft Learn, "Receive change
notifications through webhooks", learn.microsoft.com/graph/change-notifications-delivery-webhooks):

- **Validation.** Creating a subscription, Graph POSTs ``{notificationUrl}?validationToken=<url
  encoded token>`` (and the same to a ``lifecycleNotificationUrl``); the endpoint must answer
  within 10 seconds ``200``, ``Content-Type: text/plain``, the body the URL-*decoded* token.
  `validation` reads it from the query alone, so the ingress answers before any I/O.
- **clientState.** Every notification of ``value[]`` carries the ``clientState`` the subscription
  was created with, a secret only the app and Graph know; `verify` compares each in constant
  time. A mismatch or a missing one means the request did not come from Graph.

Rich notifications (``encryptedContent`` and the ``validationTokens`` JWTs) are not supported:
subscribe without ``includeResourceData``.
"""

from __future__ import annotations

import hmac
import re

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.json_reader import malformed, parse_json
from ...domain.webhooks import WebhookRequest
from ...ports.webhooks import WebhookVerifier
from ..webhooks.signatures import utf8


__all__ = [
    "CLIENT_STATE_MAX",
    "CLIENT_STATE_MIN",
    "VALIDATION_PARAM",
    "GraphNotificationVerifier",
    "check_client_state",
]

VALIDATION_PARAM = "validationToken"
CLIENT_STATE_MIN = 16  # a secret, not a label: long enough not to be guessed
CLIENT_STATE_MAX = 128  # Graph's limit on a subscription's clientState
MAX_VALIDATION_TOKEN = 4096  # far above Graph's tokens; refuses a query used as a payload
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PROVIDER = "graph"


def check_client_state(value: str) -> None:
    """
    Refuse a clientState Graph would not accept or an attacker could guess.

    Raises:
        InvalidValue: shorter than `CLIENT_STATE_MIN` or longer than `CLIENT_STATE_MAX`
            characters, or not printable ASCII.
    """
    if not CLIENT_STATE_MIN <= len(value) <= CLIENT_STATE_MAX:
        rule = f"must be {CLIENT_STATE_MIN} to {CLIENT_STATE_MAX} characters (a random secret)"
        raise InvalidValue("client_state", rule)
    if not value.isascii() or not value.isprintable():
        raise InvalidValue("client_state", "must be printable ASCII")


@attrs.frozen
class GraphNotificationVerifier(WebhookVerifier):
    """
    Answers Graph's validation handshake and checks ``clientState`` on every notification.

    Args:
        client_state: the secret the subscriptions were created with.
        integration: the name used in rejections.
    """

    client_state: str = attrs.field(repr=False)
    integration: str = PROVIDER

    def __attrs_post_init__(self) -> None:
        check_client_state(self.client_state)

    def validation(self, request: WebhookRequest) -> str | None:
        """
        The token to echo when ``request`` is Graph's endpoint validation, else None.

        Reads only the query (already URL-decoded, ``+`` as a space), so it can answer at once.

        Raises:
            MalformedWebhook: ``validationToken`` is repeated, empty, over-long or holds
                control characters.
        """
        tokens = [value for key, value in request.query if key == VALIDATION_PARAM]
        if not tokens:
            return None
        if len(tokens) > 1:
            msg = f"{VALIDATION_PARAM} sent {len(tokens)} times; exactly one is expected"
            raise MalformedWebhook(msg, integration=self.integration)
        token = tokens[0]
        if not token:
            raise MalformedWebhook(f"{VALIDATION_PARAM} is empty", integration=self.integration)
        if len(token) > MAX_VALIDATION_TOKEN or _CONTROL.search(token):
            msg = f"{VALIDATION_PARAM} is over {MAX_VALIDATION_TOKEN} characters or not text"
            raise MalformedWebhook(msg, integration=self.integration)
        return token

    def verify(self, request: WebhookRequest) -> None:
        """
        Accept a batch only when every notification carries the configured ``clientState``.

        One bad notification refuses the whole batch: Graph answers for a POST, not per
        notification, and a request that carries one wrong secret did not come from Graph (or
        our secret is stale), so none of what it claims may be trusted. Refusing is also safe
        for a genuine batch: Graph retries any non-2xx answer for up to 4 hours, time to fix the
        secret.

        Raises:
            MalformedWebhook: the body is not ``{"value": [notification, ...]}``.
            InvalidSignature: a ``clientState`` is missing or does not match (its value is
                never quoted).
        """
        body = parse_json(request.body, error=malformed(self.integration))
        notifications = body.items("value")
        if not notifications:
            msg = "value: must hold at least one notification"
            raise MalformedWebhook(msg, integration=self.integration)
        expected = self.client_state.encode("ascii")
        missing: list[int] = []
        wrong: list[int] = []
        for index, item in enumerate(notifications):
            presented = item.opt_text("clientState", max_length=1024)
            if presented is None:
                missing.append(index)
                continue
            mine = utf8(presented, what="clientState", integration=self.integration)
            if not hmac.compare_digest(mine, expected):
                wrong.append(index)
        problems = [
            f"{what} in value{_indices(found)}"
            for what, found in (("missing", missing), ("wrong", wrong))
            if found
        ]
        if problems:
            msg = (
                f"clientState {'; '.join(problems)} (of {len(notifications)} notifications); "
                "the whole batch is refused - "
                "if Graph sent it, the subscription was made with another client_state"
            )
            raise InvalidSignature(msg, integration=self.integration)


def _indices(found: list[int], limit: int = 10) -> str:
    """``[0, 3]``, or the first ``limit`` indices and how many more."""
    shown = ", ".join(str(i) for i in found[:limit])
    more = f", +{len(found) - limit} more" if len(found) > limit else ""
    return f"[{shown}{more}]"
