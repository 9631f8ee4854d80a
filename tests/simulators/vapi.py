"""
`VapiSimulator`: Vapi's ``/call`` API and Live Call Control: Bearer auth, UUID call ids, call
statuses (queued -> ringing -> in-progress -> ended, forward only; ``not-found`` and
``deletion-failed`` are final too, as ``Call.status`` in VapiAI/docs ``fern/apis/api/openapi.json``
lists them), ``monitor.controlUrl`` on the request's own origin (with
``monitorPlan.controlAuthenticationEnabled``: only ``Authorization: Bearer <public key>`` may use
it), ``assistantOverrides`` (and its ``metadata``) kept on the call, List Calls
(``GET /call``, newest first, filtered by ``id``, ``assistantId``, ``phoneNumberId``,
``createdAt{Gt,Ge,Lt,Le}`` and ``limit`` <= 1000) and Vapi's NestJS-style error bodies.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, json_response


__all__ = ["VapiSimulator"]

# E.164 allows 7 digits in all (Niue, Tokelau, Tristan da Cunha) up to 15.
_E164 = re.compile(r"\+[1-9]\d{5,14}")
_CALL = re.compile(r"/call/([0-9a-f-]{36})")
_CONTROL = re.compile(r"/([0-9a-f-]{36})/control")
_DATE_FILTERS = {
    "createdAtGt": lambda at, bound: at > bound,
    "createdAtGe": lambda at, bound: at >= bound,
    "createdAtLt": lambda at, bound: at < bound,
    "createdAtLe": lambda at, bound: at <= bound,
}
_RANK = {
    "scheduled": 0,
    "queued": 1,
    "ringing": 2,
    "in-progress": 3,
    "forwarding": 4,
    "ended": 5,
    "not-found": 5,
    "deletion-failed": 5,
}
_FINAL = frozenset({"ended", "not-found", "deletion-failed"})


def _error(status: int, message: str | list[str], error: str) -> SimResponse:
    return json_response(status, {"message": message, "error": error, "statusCode": status})


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a date without a time zone")
    return moment


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class VapiSimulator(Simulator):
    """
    One Vapi org, stateful.

    Args:
        api_key: the private key Vapi accepts as ``Authorization: Bearer``.
        assistants: assistant ids that exist; None accepts any.
        phone_numbers: phone number ids that exist; None accepts any.
        refused_numbers: E.164 numbers the carrier will not dial (`refuse_number`).
        control_public_key: the org's public key, when the assistant has
            ``controlAuthenticationEnabled``; None: the control URL is its own capability.
    """

    def __init__(
        self,
        *,
        api_key: str = "vapi-test-private-key",
        assistants: set[str] | None = None,
        phone_numbers: set[str] | None = None,
        refused_numbers: set[str] | None = None,
        control_public_key: str | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.assistants = assistants
        self.phone_numbers = phone_numbers
        self.refused_numbers = refused_numbers or set()
        self.control_public_key = control_public_key
        self.calls: dict[str, dict[str, Any]] = {}
        self.controls: list[tuple[str, dict[str, Any]]] = []

    def refuse_number(self, number: str) -> None:
        """The carrier will not dial ``number`` (geo permissions, a blocklist): a 400."""
        self.refused_numbers.add(number)

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """Vapi's bodies for throttling and outages."""
        if status == 429:
            response = _error(429, "Too Many Requests", "Too Many Requests")
            return response.with_header("retry-after", f"{retry_after:g}")
        return _error(status, "Service Unavailable", "Service Unavailable")

    def handle(self, request: SimRequest) -> SimResponse:
        """Route: the REST API needs the key, the control URL is its own capability."""
        control = _CONTROL.fullmatch(request.path)
        if control and request.method == "POST":
            if (
                self.control_public_key is not None
                and request.headers.get("authorization") != f"Bearer {self.control_public_key}"
            ):
                return _error(401, "Unauthorized", "Unauthorized")
            return self._control(control.group(1), request.json())
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(
                401,
                "Invalid Key. Hot tip, you may be using the private key instead of the public "
                "key, or vice versa.",
                "Unauthorized",
            )
        if request.path == "/call" and request.method == "POST":
            return self._create(request)
        if request.path == "/call" and request.method == "GET":
            return self._list(dict(parse_qsl(request.query)))
        fetch = _CALL.fullmatch(request.path)
        if fetch and request.method == "GET":
            call = self.calls.get(fetch.group(1))
            if call is None:
                return _error(404, "Couldn't Get Call. Call Not Found.", "Not Found")
            return json_response(200, call)
        return _error(404, f"Cannot {request.method} {request.path}", "Not Found")

    def _create(self, request: SimRequest) -> SimResponse:
        body = request.json()
        if not isinstance(body, dict):
            return _error(400, ["body must be a JSON object"], "Bad Request")
        customer = body.get("customer")
        number = customer.get("number") if isinstance(customer, dict) else None
        if not isinstance(number, str) or not _E164.fullmatch(number):
            return _error(
                400,
                [f"customer.number must be a valid phone number in the E.164 format. Got {number}"],
                "Bad Request",
            )
        assistant = body.get("assistantId")
        if not isinstance(assistant, str):
            return _error(400, ["assistantId or assistant or squad is required"], "Bad Request")
        if self.assistants is not None and assistant not in self.assistants:
            return _error(404, "Couldn't Get Assistant. Assistant Not Found.", "Not Found")
        phone = body.get("phoneNumberId")
        if not isinstance(phone, str) or (
            self.phone_numbers is not None and phone not in self.phone_numbers
        ):
            return _error(400, ["phoneNumberId must be an existing phone number id"], "Bad Request")
        if number in self.refused_numbers:
            return _error(
                400,
                "Couldn't Create Twilio Call. Twilio Error: Account not authorized to call this "
                "number. Check your Geo Permissions.",
                "Bad Request",
            )
        call_id = str(uuid.uuid4())
        origin = request.origin
        now = _now()
        call: dict[str, Any] = {
            "id": call_id,
            "orgId": "3f0a6a1e-7b1c-4c55-9d0e-5d6f2b1c0a99",
            "type": "outboundPhoneCall",
            "status": "queued",
            "createdAt": now,
            "updatedAt": now,
            "assistantId": assistant,
            "phoneNumberId": phone,
            "customer": {"number": number},
            "phoneCallProvider": "twilio",
            "phoneCallTransport": "pstn",
            "monitor": {
                "listenUrl": f"{origin.replace('http', 'ws', 1)}/{call_id}/listen",
                "controlUrl": f"{origin}/{call_id}/control",
            },
        }
        if isinstance(body.get("assistantOverrides"), dict):
            call["assistantOverrides"] = body["assistantOverrides"]
        self.calls[call_id] = call
        return json_response(201, call)

    def _list(self, query: dict[str, str]) -> SimResponse:
        """List Calls: every filter given must hold; newest first; at most ``limit`` (100)."""
        try:
            limit = float(query.get("limit", "100"))
            bounds = {k: _instant(v) for k, v in query.items() if k in _DATE_FILTERS}
        except ValueError:
            return _error(400, ["limit must be a number; dates must be ISO 8601"], "Bad Request")
        if not 0 <= limit <= 1000:
            return _error(400, ["limit must not be greater than 1000"], "Bad Request")
        calls = [
            call
            for call in self.calls.values()
            if all(
                call.get(k) == query[k]
                for k in ("id", "assistantId", "phoneNumberId")
                if k in query
            )
            and all(
                _DATE_FILTERS[k](_instant(call["createdAt"]), bound) for k, bound in bounds.items()
            )
        ]
        calls.sort(key=lambda call: _instant(call["createdAt"]), reverse=True)
        return json_response(200, calls[: int(limit)])

    def _control(self, call_id: str, command: Any) -> SimResponse:
        call = self.calls.get(call_id)
        if call is None:
            return _error(404, "Call not found", "Not Found")
        if not isinstance(command, dict) or not isinstance(command.get("type"), str):
            return _error(400, "type is required", "Bad Request")
        if call["status"] in _FINAL:
            return _error(400, "Call has ended", "Bad Request")
        self.controls.append((call_id, command))
        if command["type"] == "end-call":
            self.progress(call_id, "ended", ended_reason="manually-canceled")
        elif command["type"] not in {"say", "add-message", "control", "transfer", "handoff"}:
            return _error(400, f"Unknown control type {command['type']}", "Bad Request")
        return SimResponse(200, b"OK", (("content-type", "text/plain"),))

    def progress(self, call_id: str, status: str, *, ended_reason: str | None = None) -> None:
        """The phone line moves on: applied only forward; ending sets ``endedReason``."""
        call = self.calls[call_id]
        if call["status"] in _FINAL or _RANK[status] <= _RANK[call["status"]]:
            return
        call["status"] = status
        call["updatedAt"] = _now()
        if status == "in-progress":
            call["startedAt"] = call["updatedAt"]
        if status == "ended":
            call["endedAt"] = call["updatedAt"]
            call["endedReason"] = ended_reason or "customer-ended-call"
