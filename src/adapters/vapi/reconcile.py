"""
Finding the call an idempotency key already started at Vapi, which takes no key itself.

`VapiVoice` writes the key into the call's ``assistantOverrides.metadata`` under `KEY_FIELD`
(``POST /call`` has no top-level ``metadata``; ``AssistantOverrides.metadata`` is kept and the
``Call`` object returns ``assistantOverrides``). Before placing a keyed call it lists
``GET /call?assistantId=&phoneNumberId=&createdAtGt=<now - look-back>&limit=1000``: an array of
calls, newest first. A full page is followed by the next one (``createdAtLe`` = the oldest seen,
ids de-duplicated) until a short page. When the window holds more calls than `MAX_PAGES` pages,
or paging stops making progress, absence cannot be proven, so `Conflict` is raised rather than
risking a second ring.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import httpx

from adapters.http.errors import (
    error_from_response,
    json_body,
    translate_transport_errors,
    unexpected,
)
from adapters.http.reading import Fields
from adapters.vapi.errors import parse_vapi_error
from domain.errors import Conflict


__all__ = ["KEY_FIELD", "MAX_PAGES", "PAGE_SIZE", "find_started_call", "key_of", "vapi_time"]

KEY_FIELD = "porticoIdempotencyKey"
PAGE_SIZE = 1000  # the most Vapi's List Calls returns at once
MAX_PAGES = 10
_PROVIDER = "vapi"
_OPERATION = "start call"


def vapi_time(moment: datetime) -> str:
    """An aware datetime as Vapi writes it: ISO 8601 in UTC with milliseconds and ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("a Vapi timestamp needs an aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def key_of(call: Fields) -> str | None:
    """The idempotency key a call carries in ``assistantOverrides.metadata``, if any."""
    overrides = call.opt_obj("assistantOverrides")
    metadata = overrides.opt_obj("metadata") if overrides else None
    value = metadata.raw.get(KEY_FIELD) if metadata else None
    return value if isinstance(value, str) else None


async def find_started_call(
    http: httpx.AsyncClient,
    headers: Mapping[str, str],
    *,
    key: str,
    assistant_id: str,
    phone_number_id: str,
    since: datetime,
) -> Fields | None:
    """
    The call started with ``key`` from this assistant and number after ``since``, or None.

    Raises:
        Conflict: too many calls in the window to rule a duplicate out.
        (and what any Vapi request raises: `Unavailable`, `TimedOut`, `AuthenticationFailed`...)
    """
    params = {
        "assistantId": assistant_id,
        "phoneNumberId": phone_number_id,
        "createdAtGt": vapi_time(since),
        "limit": str(PAGE_SIZE),
    }
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = await _list_calls(http, headers, params)
        fresh = [call for call in page if call.text("id") not in seen]
        for call in fresh:
            if key_of(call) == key:
                return call
            seen.add(call.text("id"))
        if len(page) < PAGE_SIZE:
            return None
        if not fresh:
            break
        params["createdAtLe"] = vapi_time(min(_created(call) for call in page))
    raise Conflict(
        "too many calls in the look-back window to rule out that this key already started one",
        integration=_PROVIDER,
        request_sent=False,
    )


async def _list_calls(
    http: httpx.AsyncClient, headers: Mapping[str, str], params: Mapping[str, str]
) -> list[Fields]:
    with translate_transport_errors(_PROVIDER, _OPERATION):
        response = await http.get("/call", params=dict(params), headers=dict(headers))
    if not response.is_success:
        raise error_from_response(
            response,
            integration=_PROVIDER,
            operation=_OPERATION,
            parse_vendor_error=parse_vapi_error,
        )
    body = json_body(response)
    if not isinstance(body, list):
        raise unexpected(_PROVIDER, _OPERATION, "the call list is not a JSON array")
    calls = []
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise unexpected(_PROVIDER, _OPERATION, f"calls[{index}] is not an object")
        calls.append(Fields(item, integration=_PROVIDER, operation=_OPERATION, path=f"[{index}]"))
    return calls


def _created(call: Fields) -> datetime:
    try:
        return datetime.fromisoformat(call.text("createdAt"))
    except ValueError:
        raise unexpected(_PROVIDER, _OPERATION, "createdAt is malformed") from None
