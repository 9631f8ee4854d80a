"""``POST /payments``: a checkout link for a deal, sent to the patient by message."""

from __future__ import annotations

import portico
from fastapi import APIRouter

from ..dependencies import Portico
from ..schemas import PaymentIn, PaymentOut


router = APIRouter(tags=["payments"])


@router.post("/payments", status_code=201)
async def request_payment(payment: PaymentIn, container: Portico) -> PaymentOut:
    """Safe to retry: within the checkout window the same link comes back, sent once."""
    sent = await container.payment_collection().request_payment(
        contact_id=payment.contact_id,
        deal_id=payment.deal_id,
        amount=portico.Money.of(payment.amount, payment.currency),
        description=payment.description,
    )
    return PaymentOut(link_id=sent.link.id, checkout_url=sent.link.url, status=sent.status.value)
