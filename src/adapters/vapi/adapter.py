"""
`VapiVoice`: the `VoicePort` over Vapi's REST API (``https://api.vapi.ai``, Bearer private key).

- start: ``POST /call`` ``{"assistantId", "phoneNumberId", "customer": {"number": "+E164"}}``
  (our metadata rides in ``assistantOverrides.metadata``) -> the call object.
- get: ``GET /call/{id}``.
- end: Vapi has no REST hang-up (``DELETE /call/{id}`` deletes the call's *data*, ``PATCH``
  only renames it). A live call is ended through its Live Call Control URL,
  ``monitor.controlUrl``, with ``POST {"type": "end-call"}`` (docs.vapi.ai/calls/call-features).
  That URL is on another host, so it never gets the private key and must be on ``vapi.ai`` (or
  on the API's own origin, as a simulator is). When the assistant's
  ``monitorPlan.controlAuthenticationEnabled`` is on, the URL "will require an ``Authorization:
  Bearer <vapi-public-api-key>`` header" (``MonitorPlan`` in VapiAI/docs
  ``fern/apis/api/openapi.json``): give ``public_key`` and it is sent. A call without a control
  URL (not yet queued, or ``monitorPlan.controlEnabled`` off) cannot be ended: `Conflict`,
  nothing sent. A call already over (``ended``, ``not-found``, ``deletion-failed``) is returned
  as it is.

Idempotent per key where Vapi allows it. Vapi takes no idempotency key, so when the
`CallRequest` carries one the adapter reconciles (`adapters.vapi.reconcile`): the key rides in
``assistantOverrides.metadata`` (``porticoIdempotencyKey``), and before ringing the adapter lists
the calls this assistant and number started in the look-back window (24 h by default, as long as
Stripe keeps a key) and returns the one carrying the key, as it is now, instead of ringing again;
the same key on a different request (number, assistant, metadata) is `Conflict`. The check and the
create are two requests, so two *concurrent* starts with one key could both ring: the outbox
sends one command per subject at a time, which is what makes redelivery safe. Without a key a
start is not idempotent: every call rings the patient again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import httpx

from ...domain.errors import Conflict, InvalidValue, NotFound, UnexpectedResponse
from ...domain.json_reader import JsonNode
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.values import IdempotencyKey, PhoneNumber
from ...domain.voice import Call, CallRequest, CallStatus
from ...ports.voice import VoicePort
from ..http.client import VendorClient, build_client
from ..http.errors import unexpected
from .errors import parse_vapi_error
from .reconcile import KEY_FIELD, find_started_call


__all__ = ["BASE_URL", "VapiVoice", "call_from_vapi"]

INTEGRATION = "vapi"
BASE_URL = "https://api.vapi.ai"
_CONTROL_HOST = re.compile(r"(?:[a-z0-9-]+\.)*vapi\.ai")
KEY_LOOKBACK = timedelta(hours=24)


def _uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def call_from_vapi(fields: JsonNode, operation: str) -> Call:
    """A `Call` from Vapi's call object; a missing or unknown field is `UnexpectedResponse`."""
    try:
        status = CallStatus(fields.text("status"))
    except ValueError:
        raise unexpected(INTEGRATION, operation, "status is not a Vapi call status") from None
    customer = fields.opt_child("customer")
    number = customer.opt_text("number") if customer else None
    overrides = fields.opt_child("assistantOverrides")
    created = fields.opt_text("createdAt")
    try:
        return Call(
            id=fields.text("id"),
            status=status,
            to=PhoneNumber.parse(number, field="customer.number") if number else None,
            assistant_id=fields.opt_text("assistantId"),
            ended_reason=fields.opt_text("endedReason"),
            created_at=datetime.fromisoformat(created) if created else None,
            metadata=_ours(overrides.text_map("metadata", lenient=True)) if overrides else {},
        )
    except (InvalidValue, ValueError) as err:
        field = err.field if isinstance(err, InvalidValue) else "createdAt"
        raise unexpected(INTEGRATION, operation, f"{field} is malformed") from None


def _ours(metadata: dict[str, str]) -> dict[str, str]:
    """The caller's metadata: the idempotency key is the adapter's business, not the caller's."""
    metadata.pop(KEY_FIELD, None)
    return metadata


@attrs.define
class VapiVoice(VoicePort):
    """
    Places outbound calls from one Vapi phone number.

    Args:
        http: the client to send with (base URL ``https://api.vapi.ai`` or a simulator).
        api_key: Vapi's private API key (never logged or printed).
        phone_number_id: the Vapi id of the number that calls out.
        clock: the time source; `Clock.now` is where the idempotency look-back window ends.
        key_lookback: how far back a keyed start looks for the call its key already started.
        public_key: the org's public API key, sent as ``Authorization: Bearer`` to
            ``monitor.controlUrl`` (for assistants with ``controlAuthenticationEnabled``); None:
            the control URL gets no Authorization header. Never logged or printed.
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    api_key: str = attrs.field(repr=False)
    phone_number_id: str
    clock: Clock = attrs.field(default=SYSTEM_CLOCK, kw_only=True, repr=False)
    key_lookback: timedelta = attrs.field(default=KEY_LOOKBACK, kw_only=True)
    public_key: str | None = attrs.field(default=None, kw_only=True, repr=False)
    _client: VendorClient = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.phone_number_id.strip():
            raise InvalidValue("phone_number_id", "must not be empty")
        if self.public_key is not None and not self.public_key.strip():
            raise InvalidValue("public_key", "must not be empty (leave it unset instead)")
        self._client = VendorClient(INTEGRATION, self.http, parse_vapi_error)

    @classmethod
    def build(
        cls,
        *,
        api_key: str,
        phone_number_id: str,
        http: httpx.AsyncClient | None = None,
        public_key: str | None = None,
    ) -> VapiVoice:
        """An adapter with its own client for api.vapi.ai unless ``http`` is given."""
        return cls(http or build_client(BASE_URL), api_key, phone_number_id, public_key=public_key)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def payload(self, request: CallRequest) -> dict[str, Any]:
        """The JSON body of ``POST /call``."""
        body: dict[str, Any] = {
            "assistantId": request.assistant_id,
            "phoneNumberId": self.phone_number_id,
            "customer": {"number": request.to.e164},
        }
        metadata = dict(request.metadata)
        if KEY_FIELD in metadata:
            raise InvalidValue("metadata", f"{KEY_FIELD} is reserved for the idempotency key")
        if request.idempotency_key is not None:
            metadata[KEY_FIELD] = request.idempotency_key.value
        if metadata:
            body["assistantOverrides"] = {"metadata": metadata}
        return body

    async def start_call(self, request: CallRequest) -> Call:
        """
        Ask Vapi to call the patient; the call starts QUEUED.

        With ``request.idempotency_key``, a call this key already started (within
        ``key_lookback``) is returned as it is now, and nobody is rung again.

        Raises:
            InvalidValue: ``metadata`` uses the reserved ``porticoIdempotencyKey``.
            InvalidRequest: Vapi refused the number or the body (400).
            NotFound: the assistant or phone number does not exist.
            Conflict: the key already started a call for a different request, or the window
                holds too many calls to rule that out.
        """
        body = self.payload(request)
        if request.idempotency_key is not None:
            found = await self._started_with(request, request.idempotency_key)
            if found is not None:
                return found
        fields = await self._client.request(
            "start call", "POST", "/call", json=body, headers=self._auth()
        )
        return call_from_vapi(fields, "start call")

    async def _started_with(self, request: CallRequest, key: IdempotencyKey) -> Call | None:
        """The call ``key`` already started, checked to be for the same request."""
        found = await find_started_call(
            self._client,
            self._auth(),
            key=key.value,
            assistant_id=request.assistant_id,
            phone_number_id=self.phone_number_id,
            since=self.clock.now() - self.key_lookback,
        )
        if found is None:
            return None
        call = call_from_vapi(found, "start call")
        same = (
            call.to is not None
            and call.to.e164 == request.to.e164
            and call.assistant_id == request.assistant_id
            and dict(call.metadata) == dict(request.metadata)
        )
        if not same:
            raise Conflict(
                "this idempotency key already started a call for a different request",
                integration=INTEGRATION,
                request_sent=False,
            )
        return call

    async def probe(self) -> None:
        """``GET /call?limit=1`` with the private key: Vapi's call list, answered only by Vapi."""
        await self._client.request_list(
            "probe", "GET", "/call", params={"limit": "1"}, headers=self._auth()
        )

    async def get_call(self, call_id: str) -> Call:
        """
        The call as Vapi sees it now.

        Raises:
            NotFound: no such call (or the id is not a Vapi UUID).
        """
        return call_from_vapi(await self._fetch(call_id, "get call"), "get call")

    async def end_call(self, call_id: str) -> Call:
        """
        Hang up a live call through its control URL; an ended call is returned unchanged.

        Vapi applies the hang-up asynchronously: when the read that follows still shows the call
        live, the call is returned as ENDED anyway, since Vapi accepted the end-call command,
        and a later `get_call` converges.

        Raises:
            NotFound: no such call.
            Conflict: the call is not over and has no control URL (scheduled, or the assistant's
                ``monitorPlan.controlEnabled`` is off); nothing was sent.
            AuthenticationFailed: the control URL wants the public key (``public_key``).
        """
        fields = await self._fetch(call_id, "end call")
        call = call_from_vapi(fields, "end call")
        if call.status.finished:
            return call
        monitor = fields.opt_child("monitor")
        control_url = monitor.opt_text("controlUrl") if monitor else None
        if control_url is None:
            raise Conflict(
                f"end call: the {call.status.value} call has no monitor.controlUrl, and Vapi has "
                "no other way to hang up (Vapi gives one once a call is queued, and only when "
                "the assistant's monitorPlan.controlEnabled is true)",
                integration=INTEGRATION,
                request_sent=False,
            )
        await self._control(control_url, {"type": "end-call"}, "end call")
        after = call_from_vapi(await self._fetch(call_id, "end call"), "end call")
        if after.status.finished:
            return after
        return attrs.evolve(after, status=CallStatus.ENDED)

    async def _fetch(self, call_id: str, operation: str) -> JsonNode:
        if not _uuid(call_id):
            raise NotFound("not a Vapi call id (a UUID)", integration=INTEGRATION)
        return await self._client.request(
            operation, "GET", f"/call/{call_id}", headers=self._auth()
        )

    async def _control(self, url: str, command: Mapping[str, str], operation: str) -> None:
        """POST a Live Call Control command: never the private key, only to Vapi's hosts."""
        target = httpx.URL(url)
        if not self._control_url_allowed(target):
            raise UnexpectedResponse(
                f"{operation}: monitor.controlUrl is not on a Vapi host",
                integration=INTEGRATION,
                request_sent=False,
            )
        # The public key replaces any client-default Authorization; without it none is sent.
        public = self.public_key
        await self._client.send(
            operation,
            "POST",
            target,
            json=dict(command),
            headers={"Authorization": f"Bearer {public}"} if public is not None else None,
            without_headers=() if public is not None else ("Authorization",),
            secret_url=True,
        )

    def _control_url_allowed(self, target: httpx.URL) -> bool:
        base = self.http.base_url
        same_origin = (target.scheme, target.host, target.port) == (
            base.scheme,
            base.host,
            base.port,
        )
        on_vapi = target.scheme == "https" and bool(_CONTROL_HOST.fullmatch(target.host))
        return same_origin or on_vapi

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self.http.aclose()
