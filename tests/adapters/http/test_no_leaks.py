"""A whole Stripe + HubSpot scenario, errors included, leaks no secret and no patient data."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from tests.simulators.faults import FaultInjector
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.stripe import StripeSimulator

from portico.adapters.hubspot import HubSpotCRM, HubSpotStages
from portico.adapters.stripe import StripePayments
from portico.domain.crm import ContactDraft, DealDraft, DealStage
from portico.domain.errors import IntegrationError
from portico.domain.payments import CheckoutRequest, PaymentRequest, RefundRequest
from portico.domain.values import Email, IdempotencyKey, Money, PhoneNumber


STRIPE_KEY = "sk_test_51SECRETkeyABCDEF"
HUBSPOT_TOKEN = "pat-na1-SECRET-0f3b-token"
PHONE = PhoneNumber("+40712345678")
EMAIL = Email("ana.popescu@example.com")
FORBIDDEN = [
    STRIPE_KEY,
    HUBSPOT_TOKEN,
    "SECRETkey",
    "SECRET-0f3b",
    PHONE.e164,
    PHONE.digits,
    "712345678",
    EMAIL.address,
    "ana.popescu",
    "Popescu",
    "Ana rang from",
]


async def _expect_error(outputs: list[str], call: Any) -> None:
    with pytest.raises(IntegrationError) as caught:
        await call
    error = caught.value
    outputs += [str(error), repr(error), error.message, str(error.__cause__ or "")]


async def test_no_secret_or_patient_data_in_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs at DEBUG, error messages and reprs of a full scenario never show secrets or PII."""
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    stripe_sim = StripeSimulator(api_key=STRIPE_KEY)
    hubspot_sim = HubSpotSimulator(token=HUBSPOT_TOKEN)
    stripe_faults, hubspot_faults = FaultInjector(stripe_sim), FaultInjector(hubspot_sim)
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stripe_faults), base_url="https://api.stripe.com"
        ) as stripe_http,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=hubspot_faults), base_url="https://api.hubapi.com"
        ) as hubspot_http,
    ):
        payments = StripePayments(http=stripe_http, api_key=STRIPE_KEY)
        crm = HubSpotCRM(http=hubspot_http, token=HUBSPOT_TOKEN)
        outputs += [repr(payments), repr(crm)]

        draft = ContactDraft(phone=PHONE, email=EMAIL, first_name="Ana", last_name="Popescu")
        contact = await crm.upsert_contact(draft)
        outputs += [repr(draft), repr(contact), str(contact)]
        outputs.append(repr(await crm.find_contact(phone=PHONE)))
        deal = await crm.create_deal(DealDraft(contact.id, "Consultation", DealStage.OPEN))
        note = await crm.add_note(contact.id, f"Ana rang from {PHONE.e164} / {EMAIL.address}")
        outputs += [repr(deal), repr(note)]
        await crm.upsert_contact(ContactDraft(phone=PhoneNumber("+40745987654")))
        await _expect_error(
            outputs,
            crm.upsert_contact(ContactDraft(phone=PhoneNumber("+40745987654"), email=EMAIL)),
        )
        unmapped = HubSpotStages(deal_stages={DealStage.LOST: "no-such-stage"})
        misconfigured = HubSpotCRM(http=hubspot_http, token=HUBSPOT_TOKEN, stages=unmapped)
        await _expect_error(outputs, misconfigured.move_deal(deal.id, DealStage.LOST))
        hubspot_faults.fail_next(429, 503)
        await _expect_error(outputs, crm.find_contact(email=EMAIL))
        await _expect_error(outputs, crm.find_contact(email=EMAIL))
        wrong = HubSpotCRM(http=hubspot_http, token=HUBSPOT_TOKEN + "x")
        await _expect_error(outputs, wrong.get_contact(contact.id))

        request = PaymentRequest(
            Money.of("150", "EUR"), "Consultation", "P-1", IdempotencyKey.new()
        )
        intent = await payments.create_payment_intent(request)
        stripe_sim.pay(intent.id)
        outputs.append(repr(await payments.get_payment_intent(intent.id)))
        await payments.refund(RefundRequest(intent.id, IdempotencyKey.new(), Money.of("50", "EUR")))
        await _expect_error(
            outputs,
            payments.refund(RefundRequest(intent.id, IdempotencyKey.new(), Money.of("500", "EUR"))),
        )
        await _expect_error(outputs, payments.cancel_payment_intent(intent.id))
        await _expect_error(
            outputs,
            payments.create_payment_intent(
                PaymentRequest(
                    Money.of("99", "EUR"), "Consultation", "P-1", request.idempotency_key
                )
            ),
        )
        link = await payments.create_checkout_link(
            CheckoutRequest(
                Money.of("150", "EUR"), "Consultation", "P-1", "https://clinic.example/ok"
            )
        )
        outputs.append(repr(link))
        stripe_faults.fail_next(429, 503)
        await _expect_error(outputs, payments.get_payment_intent(intent.id))
        await _expect_error(outputs, payments.get_payment_intent(intent.id))
        wrong_key = StripePayments(http=stripe_http, api_key=STRIPE_KEY + "x")
        await _expect_error(outputs, wrong_key.get_payment_intent(intent.id))

    seen = caplog.text + "\n".join(outputs)
    assert "stripe GET /v1/payment_intents" in caplog.text  # the logs did record the calls
    for secret in FORBIDDEN:
        assert secret not in seen, f"leaked: {secret[:6]}..."
