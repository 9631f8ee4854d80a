"""The request and response bodies of the clinic's API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LeadIn(BaseModel):
    """A patient's enquiry from the clinic's web form."""

    phone: str = Field(examples=["+40 712 345 678"])
    message: str = Field(min_length=1, max_length=4096)
    name: str | None = Field(default=None, max_length=200)


class LeadOut(BaseModel):
    """The patient's CRM contact and their one open deal."""

    contact_id: str
    deal_id: str
    new_deal: bool


class PaymentIn(BaseModel):
    """A fee to collect for a deal; ``amount`` in major units, exactly ("150.00")."""

    contact_id: str
    deal_id: str
    amount: str = Field(examples=["150.00"])
    currency: str = Field(default="RON", min_length=3, max_length=3)
    description: str = Field(min_length=1, max_length=200)


class PaymentOut(BaseModel):
    """The checkout link sent to the patient, and what became of its message."""

    link_id: str
    checkout_url: str
    status: str
