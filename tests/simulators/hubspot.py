"""
A stateful HubSpot CRM v3 simulator as a plain ASGI 3 app.

It behaves like HubSpot where Portico depends on it: numeric string ids, ``properties`` objects
of strings, ``409 CONFLICT "Contact already exists. Existing ID: N"`` on a duplicate email,
search with filter groups (OR) of filters (AND), deal stages checked against the pipeline and
lifecycle stages against the portal's (HubSpot's own internal values, never Portico's names),
associations (3 deal to contact, 202 note to contact), ``PROPERTY_DOESNT_EXIST`` for a contact
property the portal does not have (`HubSpotSimulator.refuse_property`), the ``{"status": "error",
"message", "correlationId", "category"}`` error body, and rate-limit headers on a 429.

Batch upsert (``POST /crm/v3/objects/{type}/batch/upsert``, ``{"inputs": [{"idProperty", "id",
"properties"}]}``, answered ``{"status": "COMPLETE", "results": [{..., "new"}], "startedAt",
"completedAt"}``: the request and 200 response shapes of hubspot-api-python's
``BatchInputSimplePublicObjectBatchInputUpsert`` and ``BatchResponseSimplePublicUpsertObject``,
``crm/contacts/api/batch_api.py``) creates the object whose unique ``idProperty`` holds ``id``,
or updates the one that already does; it reads the store, not the lagging search index. The
``idProperty`` must be a property with unique values in the portal (`add_unique_property`;
HubSpot: "idProperty query param refers to a property whose values are unique for the object",
developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts).
Such a property's values are unique on every write: a create or update giving another object's
value is refused with a 400 ``VALIDATION_ERROR`` (HubSpot refuses it; the wording is this
simulator's). Not modelled: upsert without ``idProperty``, and 207 partial results (a batch with
a bad input is refused whole).

Search lags behind writes, as HubSpot's search index does (a few seconds): with ``search_lag=N``
a created or updated object keeps its previous search view (none, for a new one) for the next N
search requests, then is indexed; `index_search` indexes everything pending at once. Reads by id
are always current.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, bearer, json_response


__all__ = ["DEFAULT_STAGES", "LIFECYCLE_STAGES", "HubSpotSimulator"]

# The default sales pipeline's stage ids, as a new portal has them.
DEFAULT_STAGES = frozenset(
    {
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    }
)
# The internal values of HubSpot's default lifecycle stages (a portal may add custom ones).
LIFECYCLE_STAGES = frozenset(
    {
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    }
)
_PATH = re.compile(r"^/crm/v3/objects/(contacts|deals|notes)(?:/(search|\d+|[^/]+))?$")
_BATCH_UPSERT = re.compile(r"^/crm/v3/objects/(contacts|deals|notes)/batch/upsert$")
_BATCH_LIMIT = 100  # inputs per batch request
_DEFAULT_PROPERTIES = {
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_object_id",
        "pipeline",
    ),
    "notes": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
_ASSOCIATION = {("deals", 3): "contacts", ("notes", 202): "contacts"}


class HubSpotError(Exception):
    """A HubSpot error response, raised inside the handlers."""

    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message


class HubSpotSimulator(Simulator):
    """
    Contacts, deals and notes in memory.

    Args:
        token: the only private-app token accepted.
        stages: the default pipeline's deal stages.
        lifecycle_stages: the portal's lifecycle stage values (add a custom stage's id here).
        clock: Unix seconds, for ``createdAt`` / ``updatedAt``.
        search_lag: search requests a write stays invisible to search for (0: at once).
        accepts: decides whether a bearer token is good instead of ``token`` (an OAuth app's
            tokens, from `tests.simulators.oauth.TokenIssuer.accepts`).
    """

    def __init__(
        self,
        token: str = "pat-na1-simulated",
        *,
        stages: frozenset[str] = DEFAULT_STAGES,
        lifecycle_stages: frozenset[str] = LIFECYCLE_STAGES,
        clock: Callable[[], float] = time.time,
        search_lag: int = 0,
        accepts: Callable[[str | None], bool] | None = None,
    ) -> None:
        super().__init__()
        self.accepts = accepts
        if search_lag < 0:
            raise ValueError("search_lag must not be negative")
        self.search_lag = search_lag
        self.token = token
        self.stages = stages
        self.lifecycle_stages = lifecycle_stages
        self.clock = clock
        self.refused_properties: set[str] = set()
        self.unique_properties: dict[str, set[str]] = {kind: set() for kind in _DEFAULT_PROPERTIES}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            "contacts": {},
            "deals": {},
            "notes": {},
        }
        self._ids = itertools.count(51_000_000_001)
        # What search sees: kind -> id -> a snapshot of the object when it was indexed.
        self._index: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in self.objects}
        self._unindexed: dict[tuple[str, str], int] = {}  # (kind, id) -> searches still blind

    def index_search(self) -> None:
        """Let search catch up: every write so far becomes visible to it."""
        for kind, object_id in list(self._unindexed):
            self._reindex(kind, object_id)

    def _written(self, kind: str, object_id: str) -> None:
        if self.search_lag == 0:
            self._reindex(kind, object_id)
        else:
            self._unindexed[(kind, object_id)] = self.search_lag

    def _reindex(self, kind: str, object_id: str) -> None:
        self._unindexed.pop((kind, object_id), None)
        stored = self.objects[kind][object_id]
        self._index[kind][object_id] = {**stored, "properties": dict(stored["properties"])}

    def _search_happened(self) -> None:
        for (kind, object_id), blind in list(self._unindexed.items()):
            if blind <= 1:
                self._reindex(kind, object_id)
            else:
                self._unindexed[(kind, object_id)] = blind - 1

    def refuse_property(self, name: str) -> None:
        """The portal has no contact property ``name`` (deleted, or never defined)."""
        self.refused_properties.add(name)

    def add_unique_property(self, name: str, kind: str = "contacts") -> None:
        """The portal has a ``kind`` property ``name`` with "unique values" on."""
        self.unique_properties[kind].add(name)

    # ------------------------------------------------------------------ ASGI plumbing

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """HubSpot's 429 (ten-secondly policy, budget spent) or a 5xx."""
        if status == 429:
            body = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
            }
            return json_response(
                429,
                body,
                {
                    "X-HubSpot-RateLimit-Max": "100",
                    "X-HubSpot-RateLimit-Remaining": "0",
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(retry_after * 1000)),
                },
            )
        return json_response(
            status,
            {
                "status": "error",
                "message": "internal error",
                "correlationId": str(uuid.uuid4()),
                "category": "INTERNAL_ERROR",
            },
        )

    def handle(self, request: SimRequest) -> SimResponse:
        """Authenticate and route."""
        try:
            given = bearer(request.headers)
            if not (self.accepts(given) if self.accepts else given == self.token):
                raise HubSpotError(
                    401, "INVALID_AUTHENTICATION", "Authentication credentials not found."
                )
            return self._route(request)
        except HubSpotError as err:
            body = {
                "status": "error",
                "message": err.message,
                "correlationId": str(uuid.uuid4()),
                "category": err.category,
            }
            return json_response(err.status, body)

    def _route(self, request: SimRequest) -> SimResponse:
        batch = _BATCH_UPSERT.match(request.path)
        if batch is not None and request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON")
            return json_response(200, self._batch_upsert(batch.group(1), body))
        match = _PATH.match(request.path)
        if match is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
        kind, tail = match.groups()
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON")
        if tail is None and request.method == "POST":
            return json_response(201, self._create(kind, body))
        if tail is None and request.method == "GET":
            return json_response(200, self._list(kind, request.params()))
        if tail == "search" and request.method == "POST":
            return json_response(200, self._search(kind, body))
        if tail is not None and request.method == "GET":
            return json_response(200, self._read(kind, tail, request.params()))
        if tail is not None and request.method == "PATCH":
            return json_response(200, self._update(kind, tail, body))
        raise HubSpotError(405, "VALIDATION_ERROR", "method not allowed")

    # ------------------------------------------------------------------ objects

    def _now(self) -> str:
        return (
            datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
        )

    def _properties(self, body: dict[str, Any]) -> dict[str, str]:
        props = body.get("properties", {})
        if not isinstance(props, dict) or not all(isinstance(v, str) for v in props.values()):
            raise HubSpotError(400, "VALIDATION_ERROR", "Property values must be strings")
        return props

    def _check(self, kind: str, props: dict[str, str], own_id: str | None = None) -> None:
        refused = sorted(set(props) & self.refused_properties) if kind == "contacts" else []
        if refused:
            errors = [
                {
                    "isValid": False,
                    "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                }
                for name in refused
            ]
            raise HubSpotError(
                400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(errors)}"
            )
        stage = props.get("lifecyclestage")
        if kind == "contacts" and stage and stage not in self.lifecycle_stages:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid: lifecyclestage was not one of the allowed options",
            )
        if kind == "contacts" and props.get("email"):
            for other_id, other in self.objects["contacts"].items():
                stored = other["properties"].get("email", "")
                if other_id != own_id and stored.lower() == props["email"].lower():
                    raise HubSpotError(
                        409, "CONFLICT", f"Contact already exists. Existing ID: {other_id}"
                    )
        for name in sorted(self.unique_properties[kind] & set(props)):
            value = props[name]
            for other_id, other in self.objects[kind].items():
                if other_id != own_id and value and other["properties"].get(name) == value:
                    raise HubSpotError(
                        400,
                        "VALIDATION_ERROR",
                        f"Property values were not valid: {name} must be unique and another "
                        "object already has this value",
                    )
        if kind == "deals" and "dealstage" in props and props["dealstage"] not in self.stages:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                "Property values were not valid: dealstage is not a valid stage of the pipeline",
            )
        if kind == "deals" and props.get("pipeline", "default") != "default":
            raise HubSpotError(400, "VALIDATION_ERROR", "Property values were not valid: pipeline")
        if kind == "notes" and own_id is None and "hs_timestamp" not in props:
            raise HubSpotError(400, "VALIDATION_ERROR", "hs_timestamp is required")

    def _associations(self, kind: str, body: dict[str, Any]) -> list[str]:
        linked = []
        for item in body.get("associations", []) or []:
            to_id = str(item.get("to", {}).get("id", ""))
            for association in item.get("types", []):
                target = _ASSOCIATION.get((kind, association.get("associationTypeId")))
                if target is None or to_id not in self.objects[target]:
                    raise HubSpotError(
                        400, "VALIDATION_ERROR", "One or more associations are invalid"
                    )
                linked.append(to_id)
        return linked

    def _create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        props = self._properties(body)
        self._check(kind, props)
        linked = self._associations(kind, body)
        object_id = str(next(self._ids))
        now = self._now()
        stored = {
            "id": object_id,
            "properties": {
                **props,
                "hs_object_id": object_id,
                "createdate": now,
                "lastmodifieddate": now,
            },
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "associations": linked,
        }
        self.objects[kind][object_id] = stored
        self._written(kind, object_id)
        return self._view(kind, stored, list(props))

    def _batch_upsert(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update each input by its unique ``idProperty`` value; all or nothing."""
        started = self._now()
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 0 < len(inputs) <= _BATCH_LIMIT:
            raise HubSpotError(
                400, "VALIDATION_ERROR", f"inputs must hold 1 to {_BATCH_LIMIT} objects"
            )
        planned: list[tuple[str, str, dict[str, str]]] = []
        for item in inputs:
            if not isinstance(item, dict):
                raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON")
            id_property, value = item.get("idProperty"), item.get("id")
            if not isinstance(id_property, str) or id_property not in self.unique_properties[kind]:
                raise HubSpotError(
                    400,
                    "VALIDATION_ERROR",
                    f"idProperty must be a property with unique values, not {id_property!r}",
                )
            if not isinstance(value, str) or not value:
                raise HubSpotError(400, "VALIDATION_ERROR", "id is required")
            planned.append((id_property, value, self._properties(item)))
        keys = [(name, value) for name, value, _ in planned]
        if len(set(keys)) != len(keys):
            raise HubSpotError(
                400, "VALIDATION_ERROR", "Duplicate IDs found in batch input. IDs must be unique"
            )
        matches = [self._holder(kind, name, value) for name, value, _ in planned]
        for (name, value, props), match in zip(planned, matches, strict=True):
            self._check(kind, {**props, name: value}, own_id=match)
        results = []
        for (name, value, props), match in zip(planned, matches, strict=True):
            written = {**props, name: value}
            if match is None:
                view = self._create(kind, {"properties": written})
            else:
                view = self._update(kind, match, {"properties": written})
            results.append({**view, "new": match is None})
        return {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": self._now(),
        }

    def _holder(self, kind: str, name: str, value: str) -> str | None:
        """The id of the object whose unique property ``name`` is ``value`` (the store, now)."""
        for object_id, stored in self.objects[kind].items():
            if stored["properties"].get(name) == value:
                return object_id
        return None

    def _get(self, kind: str, object_id: str) -> dict[str, Any]:
        stored = self.objects[kind].get(object_id)
        if stored is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "Object not found.")
        return stored

    def _list(self, kind: str, query: dict[str, str]) -> dict[str, Any]:
        """``GET /crm/v3/objects/{kind}?limit=``: one page (1-100, default 10), oldest first."""
        raw = query.get("limit", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise HubSpotError(400, "VALIDATION_ERROR", "limit must be between 1 and 100")
        ids = list(self.objects[kind])
        page = ids[: int(raw)]
        wanted = [p for p in query.get("properties", "").split(",") if p] or None
        listed: dict[str, Any] = {
            "results": [self._view(kind, self.objects[kind][i], wanted) for i in page]
        }
        if len(ids) > len(page):
            listed["paging"] = {"next": {"after": page[-1]}}
        return listed

    def _read(self, kind: str, object_id: str, query: dict[str, str]) -> dict[str, Any]:
        stored = self._get(kind, object_id)
        wanted = [p for p in query.get("properties", "").split(",") if p] or None
        view = self._view(kind, stored, wanted)
        if "contacts" in query.get("associations", "").split(","):
            view["associations"] = {
                "contacts": {
                    "results": [
                        {"id": c, "type": f"{kind[:-1]}_to_contact"} for c in stored["associations"]
                    ]
                }
            }
        return view

    def _update(self, kind: str, object_id: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = self._get(kind, object_id)
        props = self._properties(body)
        self._check(kind, props, own_id=object_id)
        stored["properties"].update(props, lastmodifieddate=self._now())
        stored["updatedAt"] = self._now()
        self._written(kind, object_id)
        return self._view(kind, stored, list(props))

    def _view(self, kind: str, stored: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
        names = set(wanted or _DEFAULT_PROPERTIES[kind]) | {
            "hs_object_id",
            "createdate",
            "lastmodifieddate",
        }
        props = stored["properties"]
        return {
            "id": stored["id"],
            "properties": {name: props.get(name) for name in sorted(names)},
            "createdAt": stored["createdAt"],
            "updatedAt": stored["updatedAt"],
            "archived": False,
        }

    # ------------------------------------------------------------------ search

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        groups = body.get("filterGroups", [])
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= 200:
            raise HubSpotError(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        hits = [
            s
            for s in self._index[kind].values()
            if not groups or any(_matches(s["properties"], g) for g in groups)
        ]
        hits.sort(key=lambda s: (s["properties"].get("createdate", ""), int(s["id"])))
        wanted = body.get("properties") or None
        found = {"total": len(hits), "results": [self._view(kind, s, wanted) for s in hits[:limit]]}
        self._search_happened()
        return found


def _matches(props: dict[str, str], group: dict[str, Any]) -> bool:
    for rule in group.get("filters", []):
        value = props.get(rule.get("propertyName", ""))
        wanted = rule.get("value")
        operator = rule.get("operator")
        if operator != "EQ":
            raise HubSpotError(400, "VALIDATION_ERROR", f"unsupported operator {operator}")
        if value is None or str(value).lower() != str(wanted).lower():
            return False
    return True
