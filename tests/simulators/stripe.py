"""
A stateful Stripe simulator (API 2026-10-28.endive shapes) as a plain ASGI 3 app.

It behaves like Stripe where Portico depends on it: ``pi_`` / ``re_`` / ``cs_`` ids, form bodies
with nested keys, amounts in minor units with Stripe's minimum charge, ``Idempotency-Key``
replays (and ``idempotency_error`` when a key is reused with other parameters), refunds bounded
by what was captured, ``payment_intent_unexpected_state`` on cancelling a final intent, and
``Stripe-Should-Retry`` on errors. It records every request (`received`) and what each
idempotency key applied (`applied`).
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

import attrs

from tests.simulators.sim_base import SimRequest, SimResponse, Simulator, bearer, json_response


__all__ = ["StripeSimulator", "nest"]

_ALPHABET = string.ascii_letters + string.digits
_PATH = re.compile(r"^/v1/(payment_intents|refunds|checkout/sessions)(?:/([^/]+))?(?:/(\w+))?$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
_KEY = re.compile(r"(\w+)|\[(\w*)\]")
MINIMUM_CHARGE = 50  # minor units: 0.50 EUR / USD (zero-decimal currencies: 50 units)


def _id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``[("metadata[a]", "1"), ("items[0][q]", "2")]`` back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [m.group(1) or m.group(2) for m in _KEY.finditer(key)]
        node: Any = root
        for part, following in zip(parts, [*parts[1:], None], strict=True):
            if following is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    nested: dict[str, Any] = _lists(root)
    return nested


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


@attrs.define
class _Stored:
    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    reply: SimResponse


class StripeError(Exception):
    """A Stripe error response, raised inside the handlers."""

    def __init__(
        self, status: int, kind: str, message: str, *, cached: bool = True, **extra: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.cached = cached
        self.body = {"error": {"type": kind, "message": message, **extra}}


class StripeSimulator(Simulator):
    """
    Stripe's PaymentIntents, Refunds and Checkout Sessions, in memory.

    Args:
        api_key: the only secret key accepted.
        clock: Unix seconds, for ``created`` and checkout expiry checks.
    """

    def __init__(
        self,
        api_key: str = "sk_test_simulated",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.clock = clock
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.applied: dict[str, _Stored] = {}

    # ------------------------------------------------------------------ vendor-side actions

    def pay(self, intent_id: str) -> None:
        """The patient pays in full: the intent succeeds with ``amount_received == amount``."""
        intent = self.intents[intent_id]
        intent.update(
            status="succeeded", amount_received=intent["amount"], latest_charge=_id("ch_")
        )

    # ------------------------------------------------------------------ ASGI plumbing

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """Stripe's JSON error for an injected 429 or 5xx."""
        if status == 429:
            body = {
                "error": {
                    "type": "invalid_request_error",
                    "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly.",
                }
            }
            return json_response(
                429, body, {"Retry-After": f"{retry_after:g}", "Stripe-Should-Retry": "true"}
            )
        body = {"error": {"type": "api_error", "message": "An error occurred on our side."}}
        return json_response(status, body, {"Stripe-Should-Retry": "true"})

    def handle(self, request: SimRequest) -> SimResponse:
        """Authenticate, replay by idempotency key, route."""
        if bearer(request.headers) != self.api_key:
            return json_response(
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Invalid API Key provided.",
                    }
                },
            )
        key = request.headers.get("idempotency-key")
        fingerprint = (request.method, request.path, tuple(sorted(request.form_pairs())))
        if request.method == "POST" and key:
            stored = self.applied.get(key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return _error(
                        StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        )
                    )
                return stored.reply.with_header("Idempotent-Replayed", "true")
        reply, cached = self._route(request)
        if request.method == "POST" and key and cached:
            self.applied[key] = _Stored(fingerprint, reply)
        return reply

    def _route(self, request: SimRequest) -> tuple[SimResponse, bool]:
        """The reply, and whether Stripe's idempotency layer keeps it (the method ran)."""
        match = _PATH.match(request.path)
        if match is None:
            return _error(
                StripeError(
                    404,
                    "invalid_request_error",
                    "Unrecognized request URL.",
                    code="resource_missing",
                )
            ), False
        resource, object_id, action = match.groups()
        params = nest(request.form_pairs())
        handlers: dict[tuple[str, str, bool, str | None], Callable[[], dict[str, Any]]] = {
            ("POST", "payment_intents", False, None): lambda: self._create_intent(params),
            ("GET", "payment_intents", True, None): lambda: self._intent(object_id),
            ("GET", "payment_intents", False, None): lambda: self._list_intents(request.params()),
            ("POST", "payment_intents", True, "cancel"): lambda: self._cancel(object_id),
            ("POST", "refunds", False, None): lambda: self._refund(params),
            ("POST", "checkout/sessions", False, None): lambda: self._checkout(params),
            ("GET", "checkout/sessions", True, None): lambda: self._session(object_id),
        }
        handler = handlers.get((request.method, resource, object_id is not None, action))
        if handler is None:
            return _error(
                StripeError(404, "invalid_request_error", "Unrecognized request URL.")
            ), False
        try:
            return json_response(200, handler(), {"Request-Id": _id("req_")}), True
        except StripeError as err:
            # Parameter validation runs before the idempotency layer: such a 400 is not kept.
            return _error(err), err.cached

    # ------------------------------------------------------------------ payment intents

    def _list_intents(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /v1/payment_intents?limit=``: newest first, ``limit`` 1-100 (default 10)."""
        raw = query.get("limit", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise StripeError(
                400, "invalid_request_error", "Invalid integer.", param="limit", cached=False
            )
        newest = list(reversed(self.intents.values()))
        return {
            "object": "list",
            "url": "/v1/payment_intents",
            "has_more": len(newest) > int(raw),
            "data": newest[: int(raw)],
        }

    def _amount(self, raw: object, param: str) -> int:
        if not isinstance(raw, str) or not raw.isdigit():
            raise StripeError(
                400, "invalid_request_error", "Invalid integer.", param=param, cached=False
            )
        amount = int(raw)
        if amount < MINIMUM_CHARGE:
            raise StripeError(
                400,
                "invalid_request_error",
                "Amount must be at least 0.50.",
                code="amount_too_small",
                param=param,
                cached=False,
            )
        return amount

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = self._amount(params.get("amount"), "amount")
        currency = params.get("currency")
        if not isinstance(currency, str) or len(currency) != 3 or currency != currency.lower():
            raise StripeError(
                400, "invalid_request_error", "Invalid currency.", param="currency", cached=False
            )
        intent_id = _id("pi_")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "status": "requires_payment_method",
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "client_secret": f"{intent_id}_secret_{_id('')}",
            "created": int(self.clock()),
            "livemode": False,
            "latest_charge": None,
        }
        self.intents[intent_id] = intent
        return intent

    def _intent(self, intent_id: str | None) -> dict[str, Any]:
        intent = self.intents.get(intent_id or "")
        if intent is None:
            raise StripeError(
                404,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
                param="intent",
            )
        return intent

    def _cancel(self, intent_id: str | None) -> dict[str, Any]:
        intent = self._intent(intent_id)
        if intent["status"] in ("succeeded", "canceled", "processing"):
            raise StripeError(
                400,
                "invalid_request_error",
                "You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}.",
                code="payment_intent_unexpected_state",
            )
        intent.update(status="canceled", canceled_at=int(self.clock()), cancellation_reason=None)
        return intent

    # ------------------------------------------------------------------ refunds

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        intent = self.intents.get(intent_id) if isinstance(intent_id, str) else None
        if intent is None:
            raise StripeError(
                400,
                "invalid_request_error",
                f"No such payment_intent: '{intent_id}'",
                code="resource_missing",
                param="payment_intent",
                cached=False,
            )
        if intent["status"] != "succeeded":
            raise StripeError(
                400,
                "invalid_request_error",
                "This PaymentIntent does not have a successful charge to refund.",
                param="payment_intent",
            )
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent_id
        )
        left = intent["amount_received"] - refunded
        if left <= 0:
            raise StripeError(
                400,
                "invalid_request_error",
                "Charge has already been refunded.",
                code="charge_already_refunded",
            )
        raw = params.get("amount")
        amount = left if raw is None else int(raw) if str(raw).isdigit() else -1
        if amount <= 0 or amount > left:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                param="amount",
            )
        refund_id = _id("re_")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent_id,
            "charge": intent["latest_charge"],
            "status": "succeeded",
            "reason": params.get("reason"),
            "metadata": params.get("metadata", {}),
            "created": int(self.clock()),
        }
        self.refunds[refund_id] = refund
        return refund

    # ------------------------------------------------------------------ checkout

    def _checkout(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeError(
                400, "invalid_request_error", "Invalid mode.", param="mode", cached=False
            )
        for param in ("success_url", "cancel_url"):
            url = params.get(param)
            if url is not None and not _URL.match(url):
                raise StripeError(
                    400,
                    "invalid_request_error",
                    "Not a valid URL",
                    code="url_invalid",
                    param=param,
                    cached=False,
                )
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(
                400,
                "invalid_request_error",
                "Missing line_items.",
                param="line_items",
                cached=False,
            )
        total, currency = 0, None
        for index, item in enumerate(items):
            price = item.get("price_data", {})
            unit = self._amount(
                price.get("unit_amount"), f"line_items[{index}][price_data][unit_amount]"
            )
            total += unit * int(item.get("quantity", "1"))
            currency = price.get("currency")
        now = int(self.clock())
        expires_at = int(params.get("expires_at", now + 86400))
        if not now + 1800 - 60 <= expires_at <= now + 86400:
            raise StripeError(
                400,
                "invalid_request_error",
                "The `expires_at` timestamp must be between 30 minutes and 24 "
                "hours from Checkout Session creation.",
                param="expires_at",
                cached=False,
            )
        session_id = "cs_test_" + _id("")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": currency,
            "expires_at": expires_at,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "payment_intent": None,
            "created": now,
        }
        self.sessions[session_id] = session
        return session

    def _session(self, session_id: str | None) -> dict[str, Any]:
        session = self.sessions.get(session_id or "")
        if session is None:
            raise StripeError(
                404, "invalid_request_error", "No such checkout.session", code="resource_missing"
            )
        return session


def _error(err: StripeError) -> SimResponse:
    return json_response(
        err.status, err.body, {"Stripe-Should-Retry": "false", "Request-Id": _id("req_")}
    )
