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

from ...domain.errors import Conflict
from ...domain.json_reader import JsonNode
from ..http.client import VendorClient
from ..http.errors import unexpected


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


def key_of(call: JsonNode) -> str | None:
    """The idempotency key a call carries in ``assistantOverrides.metadata``, if any."""
    overrides = call.opt_child("assistantOverrides")
    metadata = overrides.opt_child("metadata") if overrides else None
    value = metadata.raw.get(KEY_FIELD) if metadata else None
    return value if isinstance(value, str) else None


async def find_started_call(
    client: VendorClient,
    headers: Mapping[str, str],
    *,
    key: str,
    assistant_id: str,
    phone_number_id: str,
    since: datetime,
) -> JsonNode | None:
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
        page = await client.request_list(_OPERATION, "GET", "/call", params=params, headers=headers)
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


def _created(call: JsonNode) -> datetime:
    try:
        return datetime.fromisoformat(call.text("createdAt"))
    except ValueError:
        raise unexpected(_PROVIDER, _OPERATION, "createdAt is malformed") from None
