"""
`TwilioSimulator`: Programmable Messaging's Messages resource (API 2010-04-01): basic auth (the
account's token or an API key), form-encoded creates, ``SM`` sids, Twilio's statuses (forward only),
its error JSON, and its loop protection: more than 30 messages between two numbers, each less than
30 s after the last, are accepted and then set ``failed`` with 14107 for 30 s
(https://www.twilio.com/docs/api/errors/14107), reported only by status callback.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import attrs

from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, json_response


__all__ = ["SimSms", "TwilioSimulator"]

_E164 = re.compile(r"\+[1-9]\d{7,14}")
_CREATE = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json")
_FETCH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages/((?:SM|MM)[0-9a-f]{32})\.json")
_ACCOUNT = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})\.json")
_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "partially_delivered": 3,
    "delivered": 3,
    "read": 4,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
}
_FINAL = {"read", "undelivered", "failed", "canceled"}
LOOP_LIMIT = 30  # replies between two numbers, each within LOOP_WINDOW of the last
LOOP_WINDOW = 30.0  # seconds; also how long further messages in the loop fail


@attrs.define
class _Loop:
    count: int
    last: float
    failing_until: float = 0.0


@attrs.define
class SimSms:
    """A message the simulator created."""

    sid: str
    to: str
    sender: str | None
    service_sid: str | None
    body: str | None
    content_sid: str | None
    content_variables: dict[str, str] | None
    status_callback: str | None
    status: str
    date_created: str
    error_code: int | None = None


def _error(status: int, code: int, message: str) -> SimResponse:
    return json_response(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class TwilioSimulator(Simulator):
    """
    One Twilio account's Messages resource, stateful.

    Args:
        account_sid: the account (``AC`` + 32 hex); the basic-auth user with the auth token.
        auth_token: the account's auth token, the password for ``account_sid``.
        api_keys: the account's API keys, ``SK...`` SID -> secret; a key authenticates as the
            user with its secret as the password, and the path still names the account.
        invalid_numbers: well-formed numbers Twilio still refuses (21211, quoting the number).
        clock: seconds, for the loop protection's 30-second windows.
    """

    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0123456789abcdef" * 2,
        auth_token: str = "twilio-test-auth-token",
        invalid_numbers: set[str] | None = None,
        api_keys: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.api_keys = dict(api_keys or {})
        self.clock = clock
        self._loops: dict[tuple[str, str], _Loop] = {}
        self.invalid_numbers = invalid_numbers or set()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: dict[str, SimSms] = {}

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """Twilio's bodies for throttling and outages."""
        if status == 429:
            response = _error(429, 20429, "Too Many Requests")
            return response.with_header("retry-after", f"{retry_after:g}")
        return _error(status, 20503, "Service Unavailable")

    def handle(self, request: SimRequest) -> SimResponse:
        """Route, authenticate, create or fetch."""
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        create = _CREATE.fullmatch(request.path)
        fetch = _FETCH.fullmatch(request.path)
        matched = create or fetch
        if matched is not None and matched.group(1) != self.account_sid:
            return _error(403, 20003, "Permission Denied")
        account = _ACCOUNT.fullmatch(request.path)
        if account and request.method == "GET":
            return self._account(account.group(1))
        if create and request.method == "POST":
            return self._create(request.form())
        if fetch and request.method == "GET":
            message = self.messages.get(fetch.group(2))
            if message is None:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            return json_response(200, self._resource(message))
        return _error(404, 20404, f"The requested resource {request.path} was not found")

    def _account(self, sid: str) -> SimResponse:
        """Fetch an Account: only the authenticated one (another SID is 404, as Twilio does)."""
        if sid != self.account_sid:
            return _error(
                404, 20404, f"The requested resource /2010-04-01/Accounts/{sid}.json was not found"
            )
        return json_response(
            200,
            {
                "sid": sid,
                "friendly_name": "Portico test account",
                "status": "active",
                "type": "Full",
                "owner_account_sid": sid,
                "uri": f"/2010-04-01/Accounts/{sid}.json",
            },
        )

    def _authorised(self, request: SimRequest) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        if user == self.account_sid:
            return password == self.auth_token
        return user in self.api_keys and password == self.api_keys[user]

    def _create(self, form: dict[str, str]) -> SimResponse:
        to = form.get("To", "")
        if not _E164.fullmatch(to) or to in self.invalid_numbers:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        body, content_sid = form.get("Body"), form.get("ContentSid")
        if not body and not content_sid:
            return _error(400, 21602, "Message body is required.")
        if body and len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        variables = None
        if "ContentVariables" in form:
            try:
                variables = json.loads(form["ContentVariables"])
            except ValueError:
                return _error(400, 21656, "The ContentVariables Parameter is invalid.")
        sid = "SM" + secrets.token_hex(16)
        message = SimSms(
            sid=sid,
            to=to,
            sender=sender,
            service_sid=service,
            body=body,
            content_sid=content_sid,
            content_variables=variables,
            status_callback=form.get("StatusCallback"),
            status="accepted" if service else "queued",
            date_created=formatdate(usegmt=True),
        )
        self.messages[sid] = message
        created = json_response(201, self._resource(message))
        if self._in_a_loop(sender or service or "", to):
            message.status, message.error_code = "failed", 14107
        return created

    def _in_a_loop(self, sender: str, to: str) -> bool:
        """Count this message in its pair's loop; True once the loop is over the limit."""
        now = self.clock()
        loop = self._loops.get((sender, to))
        if loop is None or (now - loop.last >= LOOP_WINDOW and now >= loop.failing_until):
            loop = self._loops[(sender, to)] = _Loop(count=0, last=now)
        loop.count += 1
        loop.last = now
        if now < loop.failing_until:
            return True
        if loop.count > LOOP_LIMIT:
            loop.failing_until = now + LOOP_WINDOW
            return True
        return False

    def status_callback_form(self, sid: str) -> dict[str, str]:
        """The form Twilio posts to the message's ``StatusCallback`` for its current status."""
        message = self.messages[sid]
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "To": message.to,
            "ApiVersion": "2010-04-01",
        }
        if message.sender:
            form["From"] = message.sender
        if message.service_sid:
            form["MessagingServiceSid"] = message.service_sid
        if message.error_code is not None:
            form["ErrorCode"] = str(message.error_code)
        return form

    def _resource(self, message: SimSms) -> dict[str, Any]:
        return {
            "sid": message.sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": message.service_sid,
            "to": message.to,
            "from": message.sender,
            "body": message.body or "",
            "status": message.status,
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": "0",
            "price": None,
            "price_unit": "USD",
            "error_code": message.error_code,
            "error_message": None,
            "api_version": "2010-04-01",
            "date_created": message.date_created,
            "date_updated": formatdate(usegmt=True),
            "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }

    def advance(self, sid: str, status: str) -> str:
        """The carrier reports ``status`` (a Twilio status): applied only if it moves forward."""
        message = self.messages[sid]
        if status not in _RANK:
            raise ValueError(f"not a Twilio message status: {status}")
        if message.status not in _FINAL and _RANK[status] > _RANK[message.status]:
            message.status = status
            if status == "undelivered":
                message.error_code = 30003  # "Unreachable destination handset"
        return message.status
