"""Hypothesis strategies for every outbound command (valid values only)."""

from __future__ import annotations

from hypothesis import strategies as st

from portico.domain.commands import (
    AddNote,
    CreateCheckoutLink,
    CreateDeal,
    CreatePaymentIntent,
    IssueRefund,
    MoveDeal,
    SendEmail,
    SendMessage,
    StartCall,
    UpdateContact,
    UpsertContact,
)
from portico.domain.crm import ContactDraft, DealDraft, DealStage, LifecycleStage
from portico.domain.email import Attachment, EmailMessage
from portico.domain.messaging import TemplateMessage, TextMessage
from portico.domain.payments import CheckoutRequest, PaymentRequest, RefundRequest
from portico.domain.values import Email, IdempotencyKey, Money
from portico.domain.voice import CallRequest
from tests.strategies import phone_numbers


phones = phone_numbers  # valid under libphonenumber's metadata, as PhoneNumber requires
emails = st.from_regex(r"[a-z0-9]{1,10}@[a-z]{1,10}\.(com|ro|org)", fullmatch=True).map(Email)
keys = st.from_regex(r"[!-~]{1,40}", fullmatch=True).map(IdempotencyKey)
opt_keys = st.none() | keys
words = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")
ids = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
money = st.builds(
    Money,
    st.integers(min_value=1, max_value=10**9),
    st.sampled_from(["EUR", "RON", "USD", "JPY", "KWD"]),
)
meta = st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=4)

text_messages = st.builds(TextMessage, phones, words, opt_keys)
template_messages = st.builds(
    TemplateMessage,
    phones,
    words,
    st.sampled_from(["en", "ro", "en_US"]),
    st.lists(st.text(max_size=10), max_size=3).map(tuple),
    opt_keys,
)
contact_drafts = st.builds(
    ContactDraft,
    phone=phones,
    email=st.none() | emails,
    first_name=st.none() | words,
    last_name=st.none() | words,
    lifecycle_stage=st.none() | st.sampled_from(LifecycleStage),
    properties=meta,
) | st.builds(ContactDraft, phone=st.none(), email=emails)
deal_drafts = st.builds(DealDraft, ids, words, st.sampled_from(DealStage), st.none() | money, words)
payment_requests = st.builds(PaymentRequest, money, words, ids, keys, meta)
checkout_requests = st.builds(
    CheckoutRequest,
    money,
    words,
    ids,
    st.just("https://example.com/ok"),
    st.none() | st.just("https://example.com/cancel"),
    keys,
    st.integers(min_value=1800, max_value=86400),
    meta,
)
refund_requests = st.builds(RefundRequest, ids, keys, st.none() | money, st.none() | words)
call_requests = st.builds(CallRequest, phones, ids, meta, opt_keys)

subjects = st.text(min_size=1, max_size=40).filter(
    lambda s: s.strip() != "" and "\n" not in s and "\r" not in s
)
attachments = st.builds(
    Attachment, words, st.sampled_from(["application/pdf", "text/plain"]), st.binary(max_size=64)
)
email_messages = st.builds(
    EmailMessage,
    emails,
    st.lists(emails, min_size=1, max_size=3).map(tuple),
    subjects,
    st.none() | words,
    words,
    st.lists(emails, max_size=2).map(tuple),
    st.lists(attachments, max_size=2).map(tuple),
    opt_keys,
)

commands = st.one_of(
    st.builds(SendMessage, text_messages | template_messages),
    st.builds(UpsertContact, contact_drafts, keys),
    st.builds(CreateDeal, deal_drafts, keys),
    st.builds(MoveDeal, ids, st.sampled_from(DealStage), keys),
    st.builds(
        UpdateContact,
        ids,
        st.dictionaries(words, words, min_size=1, max_size=3),
        idempotency_key=keys,
    ),
    st.builds(AddNote, ids, words, keys),
    st.builds(CreatePaymentIntent, payment_requests),
    st.builds(CreateCheckoutLink, checkout_requests),
    st.builds(IssueRefund, refund_requests),
    st.builds(StartCall, call_requests),
    st.builds(SendEmail, email_messages),
)
