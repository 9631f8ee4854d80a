"""The `MessagingPort` contract, sentence by sentence, for every registered implementation."""

from __future__ import annotations

from typing import Any

import pytest

from portico.domain.errors import InvalidRequest, NotFound
from portico.domain.messaging import DeliveryStatus, TemplateMessage, TextMessage
from portico.ports.messaging import MessagingPort
from tests.contract.harness import TEMPLATE, Harness, MessagingControls


PATIENT = "+40712345678"
ACCEPTED = (DeliveryStatus.QUEUED, DeliveryStatus.SENT)
D = DeliveryStatus

MESSAGES = [
    pytest.param(TextMessage(PATIENT, "Your appointment is confirmed."), id="text"),
    pytest.param(
        TemplateMessage(PATIENT, TEMPLATE, language="en_US", parameters=()), id="template"
    ),
]


def _port(harness: Harness[Any]) -> MessagingPort:
    port: MessagingPort = harness.port
    return port


@pytest.mark.parametrize("message", MESSAGES)
async def test_send_returns_a_receipt_with_an_id_and_an_accepted_status(
    messaging: Harness[Any], message: TextMessage | TemplateMessage
) -> None:
    """Sending a text or template returns the provider's message id and QUEUED or SENT."""
    receipt = await _port(messaging).send(message)
    assert receipt.message_id
    assert receipt.status in ACCEPTED
    assert receipt.provider


async def test_free_form_text_outside_the_window_is_invalid(messaging: Harness[Any]) -> None:
    """A free-form text outside the 24-hour window raises InvalidRequest; a template still goes."""
    controls: MessagingControls = messaging.controls
    if not await controls.close_window(PATIENT):
        pytest.skip("this channel has no customer-care window (SMS)")
    with pytest.raises(InvalidRequest):
        await _port(messaging).send(TextMessage(PATIENT, "Are you still coming tomorrow?"))
    receipt = await _port(messaging).send(TemplateMessage(PATIENT, TEMPLATE, language="en_US"))
    assert receipt.status in ACCEPTED


async def test_send_of_an_unknown_template_is_invalid(messaging: Harness[Any]) -> None:
    """A template the provider has not approved raises InvalidRequest."""
    with pytest.raises(InvalidRequest):
        await _port(messaging).send(TemplateMessage(PATIENT, "no_such_template", language="en_US"))


async def test_send_is_not_idempotent_each_message_gets_its_own_id(
    messaging: Harness[Any],
) -> None:
    """The same message sent twice is two messages with two distinct ids."""
    message = TextMessage(PATIENT, "Reminder: tomorrow at 10:00.")
    first = await _port(messaging).send(message)
    second = await _port(messaging).send(message)
    assert first.message_id != second.message_id


async def test_get_status_of_a_sent_message_is_its_accepted_status(
    messaging: Harness[Any],
) -> None:
    """Right after sending, a message's status is the accepted one, under the same id."""
    receipt = await _port(messaging).send(TextMessage(PATIENT, "Hello"))
    status = await _port(messaging).get_status(receipt.message_id)
    assert status.message_id == receipt.message_id
    assert status.status in ACCEPTED


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        pytest.param([D.SENT, D.DELIVERED, D.READ], D.READ, id="in-order"),
        pytest.param([D.DELIVERED, D.SENT], D.DELIVERED, id="late-sent-ignored"),
        pytest.param([D.READ, D.DELIVERED, D.SENT], D.READ, id="read-is-final"),
        pytest.param([D.SENT, D.FAILED], D.FAILED, id="failed"),
        pytest.param([D.FAILED, D.DELIVERED, D.READ], D.FAILED, id="failed-is-final"),
    ],
)
async def test_status_only_ever_moves_forward(
    messaging: Harness[Any], reports: list[DeliveryStatus], expected: DeliveryStatus
) -> None:
    """Whatever order the provider reports statuses in, get_status never moves backward."""
    controls: MessagingControls = messaging.controls
    receipt = await _port(messaging).send(TextMessage(PATIENT, "Hello"))
    for status in reports:
        await controls.advance(receipt.message_id, status)
    assert (await _port(messaging).get_status(receipt.message_id)).status is expected


async def test_get_status_of_an_unknown_message_raises_not_found(
    messaging: Harness[Any],
) -> None:
    """An id the provider never issued raises NotFound."""
    with pytest.raises(NotFound):
        await _port(messaging).get_status("wamid.HBgLMDAwMDAwMDAwMDAwFQIAERgSNotAMessage=")


async def test_get_status_is_idempotent(messaging: Harness[Any]) -> None:
    """Reading a status twice gives the same answer and changes nothing."""
    controls: MessagingControls = messaging.controls
    receipt = await _port(messaging).send(TextMessage(PATIENT, "Hello"))
    await controls.advance(receipt.message_id, D.DELIVERED)
    first = await _port(messaging).get_status(receipt.message_id)
    second = await _port(messaging).get_status(receipt.message_id)
    assert first == second
    assert first.status is D.DELIVERED


async def test_probe_answers_and_changes_nothing(messaging: Harness[Any]) -> None:
    """The health read answers, again and again, and a sent message keeps its status."""
    port = _port(messaging)
    receipt = await port.send(TemplateMessage(PATIENT, TEMPLATE, language="en_US"))
    await port.probe()
    await port.probe()
    assert (await port.get_status(receipt.message_id)).status == receipt.status
