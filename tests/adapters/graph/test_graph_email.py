"""GraphEmail on the wire: the sendMail body, Graph's errors, throttling and expired tokens."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.contract.impls.graph_http import graph_email
from tests.simulators.graph import MAILBOX, GraphSimulator
from tests.simulators.oauth import CLIENT_ID, CLIENT_SECRET

from portico.adapters.fakes import FakeClock
from portico.adapters.graph import GraphEmail, send_mail_body
from portico.adapters.oauth import CachedTokenProvider, ClientCredentialsGrant
from portico.adapters.resilience import BreakerRegistry, ResilientEmail, build_pipeline
from portico.app.services.delivery_rules import may_send_again
from portico.domain.command_codec import decode_command, encode_command
from portico.domain.commands import SendEmail
from portico.domain.email import MAX_ATTACHMENT_BYTES, Attachment, EmailMessage
from portico.domain.errors import (
    InvalidValue,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
)
from portico.domain.values import IdempotencyKey


PATIENT = "ana@example.com"


def _message(**changes: object) -> EmailMessage:
    fields: dict[str, object] = {
        "sender": MAILBOX,
        "to": (PATIENT,),
        "subject": "Your receipt",
        "text": "plain",
    }
    fields.update(changes)
    return EmailMessage(**fields)  # type: ignore[arg-type]


def test_the_body_is_graphs_and_html_wins_over_text() -> None:
    """sendMail's JSON: one HTML body, recipients, a fileAttachment with base64 bytes."""
    pdf = Attachment("r.pdf", "application/pdf", b"abc")
    body = send_mail_body(_message(html="<b>x</b>", cc=("c@example.com",), attachments=(pdf,)))
    assert body == {
        "message": {
            "subject": "Your receipt",
            "body": {"contentType": "HTML", "content": "<b>x</b>"},
            "toRecipients": [{"emailAddress": {"address": PATIENT}}],
            "ccRecipients": [{"emailAddress": {"address": "c@example.com"}}],
            "attachments": [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": "r.pdf",
                    "contentType": "application/pdf",
                    "contentBytes": "YWJj",
                }
            ],
        },
        "saveToSentItems": True,
    }


async def test_an_expired_token_is_renewed_once_and_the_mail_sent_once() -> None:
    """Graph's 401 InvalidAuthenticationToken: one new token, one resend, one email."""
    simulator = GraphSimulator()
    adapter = graph_email(simulator)
    try:
        await adapter.send(_message())
        simulator.issuer.revoke_all()
        await adapter.send(_message())
        assert simulator.tokens.token_requests == 2
        assert len(simulator.requests_to("POST", "/sendMail")) == 3
        assert len(simulator.sent) == 2
    finally:
        await adapter.aclose()


async def test_throttling_is_rate_limited_with_retry_after_and_retried_safely() -> None:
    """429 ApplicationThrottled: RateLimited(retry_after=7, not sent); the pipeline resends."""
    simulator = GraphSimulator()
    adapter = graph_email(simulator)
    try:
        simulator.throttle_next(1, retry_after=7)
        with pytest.raises(RateLimited) as caught:
            await adapter.send(_message())
        assert caught.value.retry_after == 7
        assert caught.value.request_sent is False
        assert caught.value.vendor_code == "ApplicationThrottled"
        clock = FakeClock()
        port = ResilientEmail(
            adapter, build_pipeline("graph", registry=BreakerRegistry(), clock=clock)
        )
        simulator.throttle_next(1, retry_after=3)
        await port.send(_message())
        assert len(simulator.sent) == 1
        assert clock.monotonic() >= 3  # waited as Graph asked
    finally:
        await adapter.aclose()


async def test_graph_error_bodies_keep_code_and_request_id_not_addresses() -> None:
    """404 ErrorInvalidUser and 403 ErrorAccessDenied map by status, with Graph's code."""
    simulator = GraphSimulator()
    adapter = graph_email(simulator)
    try:
        with pytest.raises(NotFound) as caught:
            await adapter.send(_message(sender="someone@contoso.example"))
        assert caught.value.vendor_code == "ErrorInvalidUser"
        assert "request-id" in str(caught.value)
        assert "someone" not in str(caught.value)
    finally:
        await adapter.aclose()

    def denied(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(
                200, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "t"}
            )
        return httpx.Response(
            403,
            json={
                "error": {
                    "code": "ErrorAccessDenied",
                    "message": f"Access to {PATIENT} denied",
                    "innerError": {"request-id": "abc-123"},
                }
            },
        )

    transport = httpx.MockTransport(denied)
    grant = ClientCredentialsGrant(
        "graph",
        "https://login.test/t/oauth2/v2.0/token",
        CLIENT_ID,
        CLIENT_SECRET,
        http=httpx.AsyncClient(transport=transport),
    )
    mock = GraphEmail(
        http=httpx.AsyncClient(transport=transport, base_url="https://g.test"),
        tokens=CachedTokenProvider(grant, key="k"),
    )
    with pytest.raises(PermissionDenied) as refused:
        await mock.send(_message())
    assert refused.value.vendor_code == "ErrorAccessDenied"
    assert "abc-123" in str(refused.value)
    assert PATIENT not in str(refused.value)
    await mock.aclose()


async def test_a_timeout_after_sending_is_maybe_sent_and_never_resent() -> None:
    """A read timeout: OutcomeUnknown after one attempt; the outbox may not send it again."""
    attempts: list[str] = []

    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(
                200, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "t"}
            )
        attempts.append(request.url.path)
        raise httpx.ReadTimeout("no answer", request=request)

    transport = httpx.MockTransport(slow)
    grant = ClientCredentialsGrant(
        "graph",
        "https://login.test/t/oauth2/v2.0/token",
        CLIENT_ID,
        CLIENT_SECRET,
        http=httpx.AsyncClient(transport=transport),
    )
    adapter = GraphEmail(
        http=httpx.AsyncClient(transport=transport, base_url="https://g.test"),
        tokens=CachedTokenProvider(grant, key="k"),
    )
    port = ResilientEmail(
        adapter, build_pipeline("graph", registry=BreakerRegistry(), clock=FakeClock())
    )
    with pytest.raises(OutcomeUnknown) as caught:
        await port.send(_message())
    assert len(attempts) == 1
    command = SendEmail(_message())
    assert may_send_again(command, caught.value) is False
    await adapter.aclose()


def test_send_email_survives_the_codec_with_its_attachment() -> None:
    """A SendEmail command encodes to JSON and back unchanged, key included."""
    key = IdempotencyKey.new()
    pdf = Attachment("r.pdf", "application/pdf", bytes(range(256)))
    command = SendEmail(_message(html="<p>x</p>", cc=("c@example.com",), attachments=(pdf,)), key)
    text = encode_command(command)
    assert decode_command(text) == command
    assert json.loads(text)["kind"] == "send_email"
    assert command.redeliverable is False


def test_attachments_over_three_megabytes_are_refused() -> None:
    """Graph's inline limit: one file or all together over 3 MB is refused before sending."""
    with pytest.raises(InvalidValue, match="3 MB"):
        Attachment("big.pdf", "application/pdf", b"x" * (MAX_ATTACHMENT_BYTES + 1))
    half = Attachment("half.pdf", "application/pdf", b"x" * (MAX_ATTACHMENT_BYTES // 2 + 1))
    with pytest.raises(InvalidValue, match="3 MB"):
        _message(attachments=(half, half))


def test_an_email_repr_shows_no_patient_data() -> None:
    """Addresses, subject and bodies stay out of the repr."""
    shown = repr(_message(html="<p>secret body</p>"))
    for hidden in ("ana", "receipt", "secret", "plain"):
        assert hidden not in shown
