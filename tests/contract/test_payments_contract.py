"""The `PaymentPort` contract, sentence by sentence, for every registered implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portico.domain.errors import Conflict, InvalidRequest, NotFound
from portico.domain.payments import (
    CheckoutRequest,
    PaymentRequest,
    PaymentStatus,
    RefundRequest,
)
from portico.domain.values import IdempotencyKey, Money
from portico.ports.payments import PaymentPort
from tests.contract.harness import Harness, PaymentControls


FEE = Money.of("150.00", "EUR")
UNKNOWN_INTENT = "pi_3ZZZZZZZZZZZZZZZZZZZZZZZ"


def _port(harness: Harness[Any]) -> PaymentPort:
    port: PaymentPort = harness.port
    return port


def _request(amount: Money = FEE, key: IdempotencyKey | None = None) -> PaymentRequest:
    return PaymentRequest(
        amount=amount,
        description="Consultation",
        patient_ref="P-1001",
        idempotency_key=key or IdempotencyKey.new(),
        metadata={"deal": "D-7"},
    )


def _checkout(
    amount: Money = FEE, key: IdempotencyKey | None = None, url: str = "https://clinic.example/ok"
) -> CheckoutRequest:
    return CheckoutRequest(
        amount=amount,
        description="Consultation",
        patient_ref="P-1001",
        success_url=url,
        idempotency_key=key or IdempotencyKey.new(),
        expires_in_seconds=3600,
    )


def _refund(
    intent_id: str, amount: Money | None = None, key: IdempotencyKey | None = None
) -> RefundRequest:
    return RefundRequest(intent_id, key or IdempotencyKey.new(), amount)


async def _paid(payments: Harness[Any]) -> str:
    controls: PaymentControls = payments.controls
    intent = await _port(payments).create_payment_intent(_request())
    await controls.pay(intent.id)
    return intent.id


async def test_create_returns_an_intent_awaiting_payment(payments: Harness[Any]) -> None:
    """A new intent awaits payment, for the amount, with the request's ref and metadata."""
    request = _request()
    intent = await _port(payments).create_payment_intent(request)
    assert intent.id
    assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert intent.amount == FEE
    assert intent.patient_ref == "P-1001"
    assert dict(intent.metadata) == {"deal": "D-7"}


async def test_create_with_the_same_key_and_request_returns_the_same_intent(
    payments: Harness[Any],
) -> None:
    """The same key with the same request returns the same intent and creates nothing new."""
    request = _request()
    first = await _port(payments).create_payment_intent(request)
    second = await _port(payments).create_payment_intent(request)
    assert second.id == first.id
    assert (await _port(payments).get_payment_intent(first.id)).id == first.id


async def test_create_with_the_same_key_and_another_request_is_a_conflict(
    payments: Harness[Any],
) -> None:
    """The same key with a different request raises Conflict."""
    key = IdempotencyKey.new()
    await _port(payments).create_payment_intent(_request(key=key))
    with pytest.raises(Conflict):
        await _port(payments).create_payment_intent(_request(Money.of("99.00", "EUR"), key))


async def test_create_with_an_amount_the_provider_refuses_is_invalid(
    payments: Harness[Any],
) -> None:
    """An amount below the provider's minimum charge raises InvalidRequest."""
    with pytest.raises(InvalidRequest):
        await _port(payments).create_payment_intent(_request(Money(1, "EUR")))


async def test_get_returns_the_intent_and_is_idempotent(payments: Harness[Any]) -> None:
    """An intent is read back by id, the same each time."""
    created = await _port(payments).create_payment_intent(_request())
    first = await _port(payments).get_payment_intent(created.id)
    assert (first.id, first.status, first.amount) == (created.id, created.status, FEE)
    assert await _port(payments).get_payment_intent(created.id) == first


async def test_get_of_an_unknown_intent_raises_not_found(payments: Harness[Any]) -> None:
    """Reading an intent the provider never issued raises NotFound."""
    with pytest.raises(NotFound):
        await _port(payments).get_payment_intent(UNKNOWN_INTENT)


async def test_cancel_of_an_unknown_intent_raises_not_found(payments: Harness[Any]) -> None:
    """Cancelling an intent the provider never issued raises NotFound."""
    with pytest.raises(NotFound):
        await _port(payments).cancel_payment_intent(UNKNOWN_INTENT)


async def test_a_paid_intent_has_succeeded_with_the_amount_received(
    payments: Harness[Any],
) -> None:
    """Once the patient pays, the intent is SUCCEEDED and amount_received is the amount."""
    intent = await _port(payments).get_payment_intent(await _paid(payments))
    assert intent.status is PaymentStatus.SUCCEEDED
    assert intent.amount_received == FEE


async def test_cancel_returns_the_intent_canceled_idempotently(payments: Harness[Any]) -> None:
    """An unpaid intent is canceled; cancelling again returns it unchanged."""
    created = await _port(payments).create_payment_intent(_request())
    canceled = await _port(payments).cancel_payment_intent(created.id)
    assert (canceled.id, canceled.status) == (created.id, PaymentStatus.CANCELED)
    again = await _port(payments).cancel_payment_intent(created.id)
    assert (again.id, again.status, again.amount) == (created.id, PaymentStatus.CANCELED, FEE)


async def test_cancel_of_a_paid_intent_is_invalid(payments: Harness[Any]) -> None:
    """A succeeded intent cannot be canceled (refund it instead)."""
    with pytest.raises(InvalidRequest):
        await _port(payments).cancel_payment_intent(await _paid(payments))


async def test_refund_without_amount_refunds_all(payments: Harness[Any]) -> None:
    """A refund without an amount gives back everything captured."""
    refund = await _port(payments).refund(_refund(await _paid(payments)))
    assert refund.id
    assert refund.amount == FEE


async def test_partial_refunds_never_exceed_what_was_captured(payments: Harness[Any]) -> None:
    """Partial refunds add up to at most the amount received; then all that is left."""
    intent_id = await _paid(payments)
    part = await _port(payments).refund(_refund(intent_id, Money.of("50.00", "EUR")))
    assert part.amount == Money.of("50.00", "EUR")
    with pytest.raises(InvalidRequest):
        await _port(payments).refund(_refund(intent_id, Money.of("100.01", "EUR")))
    rest = await _port(payments).refund(_refund(intent_id))
    assert rest.amount == Money.of("100.00", "EUR")
    with pytest.raises(InvalidRequest):
        await _port(payments).refund(_refund(intent_id, Money.of("0.01", "EUR")))


async def test_refund_of_an_unpaid_intent_is_invalid(payments: Harness[Any]) -> None:
    """An intent that was not paid cannot be refunded."""
    created = await _port(payments).create_payment_intent(_request())
    with pytest.raises(InvalidRequest):
        await _port(payments).refund(_refund(created.id))


async def test_refund_in_another_currency_is_invalid(payments: Harness[Any]) -> None:
    """A refund amount in a currency other than the payment's raises InvalidRequest."""
    with pytest.raises(InvalidRequest):
        await _port(payments).refund(_refund(await _paid(payments), Money.of("10.00", "USD")))


async def test_refund_of_an_unknown_intent_raises_not_found(payments: Harness[Any]) -> None:
    """A refund of an intent the provider never issued raises NotFound."""
    with pytest.raises(NotFound):
        await _port(payments).refund(_refund(UNKNOWN_INTENT))


async def test_refund_with_the_same_key_moves_no_more_money(payments: Harness[Any]) -> None:
    """The same key returns the same refund, and no more money moves."""
    intent_id = await _paid(payments)
    request = _refund(intent_id, Money.of("50.00", "EUR"))
    first = await _port(payments).refund(request)
    second = await _port(payments).refund(request)
    assert second.id == first.id
    rest = await _port(payments).refund(_refund(intent_id))
    assert rest.amount == Money.of("100.00", "EUR")


async def test_refund_with_the_same_key_and_another_request_is_a_conflict(
    payments: Harness[Any],
) -> None:
    """The same refund key with a different amount raises Conflict."""
    intent_id = await _paid(payments)
    key = IdempotencyKey.new()
    await _port(payments).refund(_refund(intent_id, Money.of("50.00", "EUR"), key))
    with pytest.raises(Conflict):
        await _port(payments).refund(_refund(intent_id, Money.of("60.00", "EUR"), key))


async def test_checkout_link_is_https_and_expires_when_asked(payments: Harness[Any]) -> None:
    """A checkout link has an https URL expiring expires_in_seconds from now."""
    before = datetime.now(UTC)
    link = await _port(payments).create_checkout_link(_checkout())
    after = datetime.now(UTC)
    assert link.id
    assert link.url.startswith("https://")
    assert link.amount == FEE
    slack = timedelta(seconds=5)
    window = timedelta(seconds=3600)
    assert before + window - slack <= link.expires_at <= after + window + slack


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(_checkout(url="not a url"), id="bad-success-url"),
        pytest.param(_checkout(Money(1, "EUR")), id="amount-too-small"),
    ],
)
async def test_checkout_the_provider_refuses_is_invalid(
    payments: Harness[Any], request_: CheckoutRequest
) -> None:
    """A checkout with a URL or amount the provider refuses raises InvalidRequest."""
    with pytest.raises(InvalidRequest):
        await _port(payments).create_checkout_link(request_)


async def test_checkout_is_idempotent_by_key(payments: Harness[Any]) -> None:
    """The same key and request (one value, as the outbox stores it) return the same link."""
    request = _checkout(key=IdempotencyKey.new())
    first = await _port(payments).create_checkout_link(request)
    second = await _port(payments).create_checkout_link(request)
    assert (second.id, second.url) == (first.id, first.url)


async def test_checkout_with_the_same_key_and_another_request_is_a_conflict(
    payments: Harness[Any],
) -> None:
    """The same checkout key with a different amount raises Conflict."""
    key = IdempotencyKey.new()
    await _port(payments).create_checkout_link(_checkout(key=key))
    with pytest.raises(Conflict):
        await _port(payments).create_checkout_link(_checkout(Money.of("99.00", "EUR"), key))


async def test_probe_answers_and_changes_nothing(payments: Harness[Any]) -> None:
    """The health read answers, again and again, and an intent is left as it was."""
    port = _port(payments)
    intent = await port.create_payment_intent(_request())
    await port.probe()
    await port.probe()
    assert await port.get_payment_intent(intent.id) == intent
