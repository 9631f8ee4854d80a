"""
A stateful HubSpot CRM v3 simulator as a plain ASGI 3 app.

It behaves like HubSpot where Portico depends on it: numeric string ids, ``properties`` objects
of strings, ``409 CONFLICT "Contact already exists. Existing ID: N"`` on a duplicate email,
search with filter groups (OR) of filters (AND), deal stages checked against the pipeline and
lifecycle stages against the portal's (HubSpot's own internal values, never Portico's names),
associations (3 deal to contact, 202 note to contact), ``PROPERTY_DOESNT_EXIST`` for a contact
property the portal does not have (`HubSpotSimulator.refuse_property`), the ``{"status": "error",
"message", "correlationId", "category"}`` error body, and rate-limit headers on a 429.

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
    """

    def __init__(
        self,
        token: str = "pat-na1-simulated",
        *,
        stages: frozenset[str] = DEFAULT_STAGES,
        lifecycle_stages: frozenset[str] = LIFECYCLE_STAGES,
        clock: Callable[[], float] = time.time,
        search_lag: int = 0,
    ) -> None:
        super().__init__()
        if search_lag < 0:
            raise ValueError("search_lag must not be negative")
        self.search_lag = search_lag
        self.token = token
        self.stages = stages
        self.lifecycle_stages = lifecycle_stages
        self.clock = clock
        self.refused_properties: set[str] = set()
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
            if bearer(request.headers) != self.token:
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
        match = _PATH.match(request.path)
        if match is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
        kind, tail = match.groups()
        body = request.json() if request.body else {}
        if not isinstance(body, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON")
        if tail is None and request.method == "POST":
            return json_response(201, self._create(kind, body))
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

    def _get(self, kind: str, object_id: str) -> dict[str, Any]:
        stored = self.objects[kind].get(object_id)
        if stored is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", "Object not found.")
        return stored

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
