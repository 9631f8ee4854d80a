"""
`StripePayments`: the `PaymentPort` over Stripe's REST API.

Follows Stripe API version ``2026-10-28.endive`` (pinned with ``Stripe-Version``, configurable):
``/v1/payment_intents``, ``/v1/refunds`` and ``/v1/checkout/sessions``, form-encoded with nested
keys, amounts in minor units. Every POST that creates money movement carries the domain
idempotency key as ``Idempotency-Key``, so a retried create returns the first result.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import attrs
import httpx

from ...domain.errors import InvalidRequest, NotFound
from ...domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
)
from ...ports.payments import PaymentPort
from ..http.client import DEFAULT_TIMEOUT, VendorClient, build_client
from ..http.forms import encode_form
from .codec import (
    INTEGRATION,
    checkout_form,
    intent_form,
    read_checkout,
    read_intent,
    read_refund,
    refund_form,
)
from .errors import parse_stripe_error


__all__ = ["API_VERSION", "BASE_URL", "StripePayments"]

BASE_URL = "https://api.stripe.com"
API_VERSION = "2026-10-28.endive"


def _path_id(value: str) -> str:
    """
    An id as one path segment: nothing a caller passes can change the path.

    An id Stripe could never have issued names no object: `NotFound`, as the port promises,
    and nothing was sent.
    """
    if not value or not value.isascii():
        raise NotFound(
            "no such object: the id is not a non-empty ASCII string",
            integration=INTEGRATION,
            request_sent=False,
        )
    return quote(value, safe="")


@attrs.define
class StripePayments(PaymentPort):
    """
    Collect and refund payments through Stripe.

    Args:
        http: the client to send with; its ``base_url`` is Stripe's (or a simulator's).
        api_key: the secret key (``sk_...`` or a restricted ``rk_...``); never printed.
        api_version: sent as ``Stripe-Version`` so an account upgrade cannot change the wire.
    """

    http: httpx.AsyncClient = attrs.field(repr=False)
    api_key: str = attrs.field(repr=False)
    api_version: str = API_VERSION
    _client: VendorClient = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._client = VendorClient(INTEGRATION, self.http, parse_stripe_error)

    @classmethod
    def connect(
        cls,
        api_key: str,
        *,
        base_url: str = BASE_URL,
        api_version: str = API_VERSION,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> StripePayments:
        """Build the adapter with its own connection pool (close it with `aclose`)."""
        http = build_client(base_url, timeout=timeout, transport=transport)
        return cls(http=http, api_key=api_key, api_version=api_version)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    def _headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Stripe-Version": self.api_version,
            "Accept": "application/json",
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def create_payment_intent(self, request: PaymentRequest) -> PaymentIntent:
        """Create a PaymentIntent; the same idempotency key returns the same intent."""
        operation = "create payment intent"
        fields = await self._client.request(
            operation,
            "POST",
            "/v1/payment_intents",
            data=encode_form(intent_form(request)),
            headers=self._headers(request.idempotency_key.value),
        )
        return read_intent(fields)

    async def probe(self) -> None:
        """
        ``GET /v1/payment_intents?limit=1``: Stripe answers it only for a valid key allowed to
        read PaymentIntents (what this adapter needs); a bad key is 401 `AuthenticationFailed`.
        """
        await self._client.request(
            "probe", "GET", "/v1/payment_intents", params={"limit": "1"}, headers=self._headers()
        )

    async def get_payment_intent(self, intent_id: str) -> PaymentIntent:
        """Retrieve a PaymentIntent."""
        operation = "get payment intent"
        fields = await self._client.request(
            operation,
            "GET",
            f"/v1/payment_intents/{_path_id(intent_id)}",
            headers=self._headers(),
        )
        return read_intent(fields)

    async def cancel_payment_intent(self, intent_id: str) -> PaymentIntent:
        """
        Cancel an unpaid intent; an already canceled one is returned unchanged.

        Stripe refuses to cancel a canceled intent (``payment_intent_unexpected_state``), so on
        that refusal the intent is read back: canceled means done, anything else is the error.
        """
        operation = "cancel payment intent"
        try:
            fields = await self._client.request(
                operation,
                "POST",
                f"/v1/payment_intents/{_path_id(intent_id)}/cancel",
                data=[],
                # stripe-python sends an Idempotency-Key on every POST, generating one when the
                # caller gives none (stripe/stripe-python stripe/_api_requestor.py,
                # "IKs should be set for all POST requests"); a retried cancel is safe anyway,
                # since a canceled intent is read back below.
                headers=self._headers(str(uuid.uuid4())),
            )
        except InvalidRequest as err:
            if err.vendor_code != "payment_intent_unexpected_state":
                raise
            current = await self.get_payment_intent(intent_id)
            if current.status is PaymentStatus.CANCELED:
                return current
            raise
        return read_intent(fields)

    async def refund(self, request: RefundRequest) -> Refund:
        """
        Refund a paid intent, all of what is left or ``request.amount``.

        A partial refund in another currency is refused here, before any money moves: the
        intent is read first to compare currencies (Stripe would refund in the charge currency).
        """
        operation = "create refund"
        if request.amount is not None:
            intent = await self.get_payment_intent(request.payment_intent_id)
            if intent.amount.currency != request.amount.currency:
                raise InvalidRequest(
                    f"{operation}: the refund currency differs from the payment's",
                    integration=INTEGRATION,
                    request_sent=False,
                )
        fields = await self._client.request(
            operation,
            "POST",
            "/v1/refunds",
            data=encode_form(refund_form(request)),
            headers=self._headers(request.idempotency_key.value),
        )
        return read_refund(fields)

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        """
        Create a Checkout Session in payment mode and return its hosted URL.

        ``expires_at`` is the request's own (fixed when it was made), so a redelivery under the
        same idempotency key, in this process or after a restart, sends identical parameters.
        Stripe refuses a session expiring in under 30 minutes: a request delivered that late
        is `InvalidRequest` (its link would have been nearly dead anyway).
        """
        operation = "create checkout session"
        fields = await self._client.request(
            operation,
            "POST",
            "/v1/checkout/sessions",
            data=encode_form(checkout_form(request)),
            headers=self._headers(request.idempotency_key.value),
        )
        return read_checkout(fields)
