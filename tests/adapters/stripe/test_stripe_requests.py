"""StripePayments on the wire: exact requests, and each documented error's mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from portico.adapters.stripe import API_VERSION, StripePayments
from portico.domain.command_codec import decode_command, encode_command
from portico.domain.commands import CreateCheckoutLink
from portico.domain.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrationError,
    InvalidRequest,
    NotFound,
    RateLimited,
    TimedOut,
    Unavailable,
    UnexpectedResponse,
)
from portico.domain.payments import (
    CheckoutRequest,
    PaymentRequest,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
)
from portico.domain.values import IdempotencyKey, Money


API = "https://api.stripe.com"
KEY = "sk_test_51Hxyz_secret"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
INTENT = {
    "id": "pi_3Abc",
    "object": "payment_intent",
    "amount": 15000,
    "amount_received": 0,
    "currency": "eur",
    "status": "requires_payment_method",
    "description": "Consultation",
    "metadata": {"patient_ref": "P-1", "deal": "D-7"},
    "client_secret": "pi_3Abc_secret_x",
}


@pytest.fixture(name="stripe")
async def _stripe() -> AsyncIterator[StripePayments]:
    async with httpx.AsyncClient(base_url=API) as http:
        yield StripePayments(http=http, api_key=KEY)


def _form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def _payment(key: str = "order-1-attempt-1") -> PaymentRequest:
    return PaymentRequest(
        Money.of("150.00", "EUR"), "Consultation", "P-1", IdempotencyKey(key), {"deal": "D-7"}
    )


@respx.mock
async def test_create_intent_sends_the_form_key_version_and_token(stripe: StripePayments) -> None:
    """POST /v1/payment_intents, form-encoded minor units, Idempotency-Key, Stripe-Version."""
    route = respx.post(f"{API}/v1/payment_intents").respond(200, json=INTENT)
    intent = await stripe.create_payment_intent(_payment())
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["idempotency-key"] == "order-1-attempt-1"
    assert sent.headers["stripe-version"] == API_VERSION
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert _form(sent) == {
        "amount": "15000",
        "currency": "eur",
        "description": "Consultation",
        "metadata[deal]": "D-7",
        "metadata[patient_ref]": "P-1",
    }
    assert intent.id == "pi_3Abc"
    assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert intent.amount == Money(15000, "EUR")
    assert (intent.patient_ref, dict(intent.metadata)) == ("P-1", {"deal": "D-7"})
    assert "secret" not in repr(intent)
    assert KEY not in repr(stripe)


@respx.mock
async def test_zero_decimal_amounts_are_sent_as_whole_units(stripe: StripePayments) -> None:
    """1500 JPY is amount=1500: Stripe's minor units are whole yen."""
    route = respx.post(f"{API}/v1/payment_intents").respond(
        200, json={**INTENT, "amount": 1500, "currency": "jpy"}
    )
    request = PaymentRequest(Money.of("1500", "JPY"), "x", "P-1", IdempotencyKey("k"))
    intent = await stripe.create_payment_intent(request)
    assert _form(route.calls.last.request)["amount"] == "1500"
    assert intent.amount == Money(1500, "JPY")


@respx.mock
async def test_get_and_cancel_use_the_id_path(stripe: StripePayments) -> None:
    """GET /v1/payment_intents/{id} and POST .../cancel, without an idempotency key."""
    get = respx.get(f"{API}/v1/payment_intents/pi_3Abc").respond(200, json=INTENT)
    cancel = respx.post(f"{API}/v1/payment_intents/pi_3Abc/cancel").respond(
        200, json={**INTENT, "status": "canceled"}
    )
    assert (await stripe.get_payment_intent("pi_3Abc")).id == "pi_3Abc"
    assert (await stripe.cancel_payment_intent("pi_3Abc")).status is PaymentStatus.CANCELED
    assert "idempotency-key" not in get.calls.last.request.headers
    assert cancel.calls.last.request.headers["stripe-version"] == API_VERSION


@respx.mock
async def test_an_id_cannot_change_the_path(stripe: StripePayments) -> None:
    """An id with slashes is escaped into one path segment."""
    route = respx.get(f"{API}/v1/payment_intents/..%2Frefunds").respond(404, json={})
    with pytest.raises(NotFound):
        await stripe.get_payment_intent("../refunds")
    assert route.called


@pytest.mark.parametrize("bad_id", ["", "pi_\u00e9t\u00e9"])
@respx.mock
async def test_an_id_stripe_never_issues_is_not_found_unsent(
    stripe: StripePayments, bad_id: str
) -> None:
    """An empty or non-ASCII id is NotFound (as the port promises) and nothing is sent."""
    for call in (stripe.get_payment_intent, stripe.cancel_payment_intent):
        with pytest.raises(NotFound) as caught:
            await call(bad_id)
        assert caught.value.request_sent is False
    assert not respx.calls


@respx.mock
async def test_cancel_of_a_canceled_intent_returns_it(stripe: StripePayments) -> None:
    """Stripe's unexpected_state on cancel is read back: already canceled means done."""
    respx.post(f"{API}/v1/payment_intents/pi_3Abc/cancel").respond(
        400,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "You cannot cancel this PaymentIntent.",
            }
        },
    )
    respx.get(f"{API}/v1/payment_intents/pi_3Abc").respond(
        200, json={**INTENT, "status": "canceled"}
    )
    assert (await stripe.cancel_payment_intent("pi_3Abc")).status is PaymentStatus.CANCELED


@respx.mock
async def test_refund_form_with_reason_outside_stripes_list(stripe: StripePayments) -> None:
    """A partial refund checks the currency first, then POSTs amount and metadata[reason]."""
    respx.get(f"{API}/v1/payment_intents/pi_3Abc").respond(200, json=INTENT)
    route = respx.post(f"{API}/v1/refunds").respond(
        200,
        json={
            "id": "re_1",
            "object": "refund",
            "amount": 5000,
            "currency": "eur",
            "payment_intent": "pi_3Abc",
            "status": "succeeded",
        },
    )
    refund = await stripe.refund(
        RefundRequest("pi_3Abc", IdempotencyKey("refund-1"), Money.of("50", "EUR"), "no-show")
    )
    sent = route.calls.last.request
    assert sent.headers["idempotency-key"] == "refund-1"
    assert _form(sent) == {
        "payment_intent": "pi_3Abc",
        "amount": "5000",
        "metadata[reason]": "no-show",
    }
    assert (refund.id, refund.amount, refund.status) == (
        "re_1",
        Money(5000, "EUR"),
        RefundStatus.SUCCEEDED,
    )


@respx.mock
async def test_refund_in_another_currency_is_refused_before_sending(
    stripe: StripePayments,
) -> None:
    """No refund is POSTed when the currency differs from the payment's."""
    respx.get(f"{API}/v1/payment_intents/pi_3Abc").respond(200, json=INTENT)
    route = respx.post(f"{API}/v1/refunds")
    with pytest.raises(InvalidRequest) as caught:
        await stripe.refund(RefundRequest("pi_3Abc", IdempotencyKey("r"), Money.of("5", "USD")))
    assert not route.called
    assert caught.value.request_sent is False


@respx.mock
async def test_checkout_session_form(stripe: StripePayments) -> None:
    """Checkout: mode=payment, inline price_data, urls, expires_at, metadata on both objects."""
    expires = int(NOW.timestamp()) + 3600
    route = respx.post(f"{API}/v1/checkout/sessions").respond(
        200,
        json={
            "id": "cs_test_1",
            "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/1",
            "expires_at": expires,
            "amount_total": 15000,
            "currency": "eur",
            "payment_intent": None,
        },
    )
    request = CheckoutRequest(
        Money.of("150", "EUR"),
        "Consultation",
        "P-1",
        "https://clinic.example/ok",
        "https://clinic.example/no",
        IdempotencyKey("co-1"),
        3600,
        {"deal": "D-7"},
        created_at=NOW,
    )
    link = await stripe.create_checkout_link(request)
    again = await stripe.create_checkout_link(request)
    first, second = (_form(c.request) for c in route.calls)
    assert first == second  # a retry sends the same parameters under the same key
    assert first == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "15000",
        "line_items[0][price_data][product_data][name]": "Consultation",
        "success_url": "https://clinic.example/ok",
        "cancel_url": "https://clinic.example/no",
        "expires_at": str(expires),
        "client_reference_id": "P-1",
        "metadata[deal]": "D-7",
        "metadata[patient_ref]": "P-1",
        "payment_intent_data[metadata][deal]": "D-7",
        "payment_intent_data[metadata][patient_ref]": "P-1",
    }
    assert route.calls.last.request.headers["idempotency-key"] == "co-1"
    assert link == again
    assert link.expires_at == datetime.fromtimestamp(expires, UTC)
    assert link.payment_intent_id is None


@respx.mock
async def test_a_redelivery_after_a_restart_sends_the_same_expiry() -> None:
    """A checkout command re-read from the outbox by a new process sends identical parameters."""
    route = respx.post(f"{API}/v1/checkout/sessions").respond(
        200,
        json={
            "id": "cs_test_1",
            "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/1",
            "expires_at": 1,
            "amount_total": 15000,
            "currency": "eur",
        },
    )
    command = CreateCheckoutLink(
        CheckoutRequest(Money.of("150", "EUR"), "Consultation", "P-1", "https://clinic.example/ok")
    )
    stored = encode_command(command)
    for _process in range(2):  # each "process" has its own adapter and decodes the row anew
        replayed = decode_command(stored)
        assert isinstance(replayed, CreateCheckoutLink)
        async with httpx.AsyncClient(base_url=API) as http:
            await StripePayments(http=http, api_key=KEY).create_checkout_link(replayed.request)
    first, second = (_form(c.request) for c in route.calls)
    assert first == second
    assert first["expires_at"] == str(int(command.request.expires_at.timestamp()))


def _stripe_error(kind: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": "Something.", **extra}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "vendor_code"),
    [
        (
            400,
            _stripe_error("invalid_request_error", "amount_too_small", param="amount"),
            {},
            InvalidRequest,
            "amount_too_small",
        ),
        (
            400,
            _stripe_error("invalid_request_error", param="amount"),
            {"Stripe-Should-Retry": "false"},
            InvalidRequest,
            "invalid_request_error",
        ),
        (400, _stripe_error("idempotency_error"), {}, Conflict, "idempotency_error"),
        (
            402,
            _stripe_error("card_error", "card_declined", decline_code="insufficient_funds"),
            {},
            InvalidRequest,
            "insufficient_funds",
        ),
        (
            401,
            _stripe_error("invalid_request_error"),
            {},
            AuthenticationFailed,
            "invalid_request_error",
        ),
        (
            404,
            _stripe_error("invalid_request_error", "resource_missing"),
            {},
            NotFound,
            "resource_missing",
        ),
        (
            400,
            _stripe_error("invalid_request_error", "resource_missing", param="payment_intent"),
            {},
            NotFound,
            "resource_missing",
        ),
        (
            429,
            _stripe_error("invalid_request_error", "rate_limit"),
            {"Retry-After": "2"},
            RateLimited,
            "rate_limit",
        ),
        (
            429,
            _stripe_error("invalid_request_error", "lock_timeout"),
            {},
            RateLimited,
            "lock_timeout",
        ),
        (
            409,
            _stripe_error("invalid_request_error", "lock_timeout"),
            {},
            Unavailable,
            "lock_timeout",
        ),
        (
            409,
            _stripe_error("idempotency_error", "idempotency_key_in_use"),
            {},
            Unavailable,
            "idempotency_key_in_use",
        ),
        (
            409,
            _stripe_error("invalid_request_error", "resource_already_exists"),
            {},
            Unavailable,
            "resource_already_exists",
        ),
        (
            409,
            _stripe_error("invalid_request_error", "resource_already_exists"),
            {"Stripe-Should-Retry": "false"},
            Conflict,
            "resource_already_exists",
        ),
        (
            500,
            _stripe_error("api_error"),
            {"Stripe-Should-Retry": "false"},
            InvalidRequest,
            "api_error",
        ),
        (
            500,
            _stripe_error("api_error"),
            {"Stripe-Should-Retry": "true"},
            Unavailable,
            "api_error",
        ),
        (408, None, {}, TimedOut, None),
    ],
)
@respx.mock
async def test_documented_errors_map(
    stripe: StripePayments,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: type[IntegrationError],
    vendor_code: str | None,
) -> None:
    """Each documented Stripe error becomes its domain error, with the vendor code."""
    respx.post(f"{API}/v1/payment_intents").respond(status, json=body, headers=headers)
    with pytest.raises(expected) as caught:
        await stripe.create_payment_intent(_payment())
    assert type(caught.value) is expected
    assert caught.value.vendor_code == vendor_code
    assert caught.value.integration == "stripe"


@respx.mock
async def test_refund_beyond_the_captured_amount_is_invalid(stripe: StripePayments) -> None:
    """Stripe's 'greater than unrefunded amount' invalid_request_error is InvalidRequest."""
    message = "Refund amount (€100.01) is greater than unrefunded amount on charge (€100.00)"
    body = {"error": {"type": "invalid_request_error", "param": "amount", "message": message}}
    respx.post(f"{API}/v1/refunds").respond(400, json=body)
    with pytest.raises(InvalidRequest, match="param amount"):
        await stripe.refund(RefundRequest("pi_3Abc", IdempotencyKey("r")))


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", Unavailable),
        (200, b'{"id": "pi_3Abc", "object": "payment_int', UnexpectedResponse),
        (
            200,
            b'{"id": "pi_3Abc", "object": "payment_intent", "currency": "eur"}',
            UnexpectedResponse,
        ),
        (
            200,
            b'{"id": "pi_3Abc", "amount": 1, "currency": "eur", "status": "weird"}',
            UnexpectedResponse,
        ),
        (
            200,
            b'{"id": "pi_3Abc", "amount": 1, "currency": "zzz", "status": "canceled"}',
            UnexpectedResponse,
        ),
    ],
    ids=["html-502", "truncated-json", "missing-amount", "unknown-status", "bad-currency"],
)
@respx.mock
async def test_bodies_stripe_does_not_document(
    stripe: StripePayments, status: int, content: bytes, expected: type
) -> None:
    """HTML pages, truncated JSON and missing or unknown fields are clear errors, never KeyError."""
    respx.get(f"{API}/v1/payment_intents/pi_3Abc").respond(status, content=content)
    with pytest.raises(expected):
        await stripe.get_payment_intent("pi_3Abc")


@respx.mock
async def test_cancel_sends_an_idempotency_key(stripe: StripePayments) -> None:
    """Every POST carries an Idempotency-Key, cancel included, as stripe-python sends one."""
    route = respx.post(f"{API}/v1/payment_intents/pi_3Abc/cancel").respond(
        200, json={**INTENT, "status": "canceled"}
    )
    await stripe.cancel_payment_intent("pi_3Abc")
    assert route.calls.last.request.headers.get("idempotency-key")
