"""
GraphNotificationVerifier: the validationToken handshake and clientState on every notification.

Wire formats from Microsoft Learn: the validation request and its answer,
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
(POST ``?validationToken=``, answer 200 text/plain with the URL-decoded token within 10 s), and
the notification body, https://learn.microsoft.com/en-us/graph/api/resources/changenotification.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.webhooks.verifiers._vsupport import rejected, req

from portico.adapters.graph.verifier import GraphNotificationVerifier
from portico.adapters.webhooks.signers import graph_change, graph_lifecycle, graph_notification
from portico.domain.errors import InvalidSignature, InvalidValue, MalformedWebhook


SECRET = "secretClientValue-0123456789"
HOOK = "https://hooks.example.com/webhooks/graph"
# The change notification of "Change notification example" on the webhooks delivery page.
DOC_NOTIFICATION = {
    "id": "lsgTZMr9KwAAA",
    "subscriptionId": "{subscription_guid}",
    "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
    "clientState": "secretClientValue",
    "changeType": "created",
    "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
    "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    "resourceData": {
        "@odata.type": "#Microsoft.Graph.Message",
        "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
        "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
        "id": "{long_id_string}",
    },
}


def sut(secret: str = SECRET) -> GraphNotificationVerifier:
    """A verifier for ``secret``."""
    return GraphNotificationVerifier(secret)


class TestValidation:
    """The endpoint validation handshake (notificationUrl and lifecycleNotificationUrl)."""

    def test_the_token_is_echoed_url_decoded(self) -> None:
        """``%3a`` and ``+`` are decoded: Graph fails the subscription on an encoded echo."""
        url = f"{HOOK}?validationToken=Validation%3a+Testing+client+application+reachability"
        token = sut().validation(req({}, b"", url=url))
        assert token == "Validation: Testing client application reachability"

    def test_a_delivery_without_the_parameter_is_no_validation(self) -> None:
        """No validationToken: the request is a notification, verified as one."""
        assert sut().validation(req({}, b"{}", url=f"{HOOK}?tenant=a")) is None

    @pytest.mark.parametrize(
        "query",
        ["validationToken=", "validationToken=a&validationToken=b", "validationToken=a%0Ab"],
    )
    def test_an_empty_repeated_or_control_character_token_is_malformed(self, query: str) -> None:
        """Only one printable token is echoed; anything else is a 400."""
        request = req({}, b"", url=f"{HOOK}?{query}")
        assert isinstance(rejected(sut().validation, request), MalformedWebhook)

    def test_an_over_long_token_is_malformed(self) -> None:
        """A query used as a payload is refused rather than echoed."""
        request = req({}, b"", url=f"{HOOK}?validationToken={'a' * 5000}")
        assert isinstance(rejected(sut().validation, request), MalformedWebhook)


class TestClientState:
    """Every notification of value[] must carry the configured clientState."""

    def test_the_documented_notification_is_accepted_with_its_client_state(self) -> None:
        """Microsoft's example body, verified with the example's own clientState."""
        body = json.dumps({"value": [DOC_NOTIFICATION]}).encode()
        sut("secretClientValue").verify(req({}, body))

    def test_a_batch_of_changes_and_lifecycle_notifications_is_accepted(self) -> None:
        """Graph batches several subscriptions' notifications into one POST."""
        body = graph_notification(
            SECRET, graph_change("users/u/messages/m1"), graph_lifecycle("missed")
        )
        sut().verify(req({}, body))

    def test_a_wrong_client_state_is_rejected_without_quoting_either_value(self) -> None:
        """A 401 that names the notification, never the secret or what was presented."""
        body = graph_notification("forged-client-state-xyz", graph_change("users/u/messages/m1"))
        error = rejected(sut().verify, req({}, body))
        assert isinstance(error, InvalidSignature)
        assert error.status_code == 401
        assert "value[0]" in error.reason
        assert SECRET not in str(error)
        assert "forged" not in str(error)

    def test_a_missing_client_state_is_rejected(self) -> None:
        """A notification without clientState cannot be trusted."""
        body = json.dumps({"value": [graph_change("users/u/messages/m1")]}).encode()
        error = rejected(sut().verify, req({}, body))
        assert isinstance(error, InvalidSignature)
        assert "missing in value[0]" in error.reason

    def test_one_bad_notification_refuses_the_whole_batch(self) -> None:
        """Good ones beside a forged one are refused too: the batch is one request."""
        good = {**graph_change("users/u/messages/m1"), "clientState": SECRET}
        bad = {**graph_change("users/u/messages/m2"), "clientState": "not-the-secret-at-all"}
        body = json.dumps({"value": [good, bad, good]}).encode()
        error = rejected(sut().verify, req({}, body))
        assert isinstance(error, InvalidSignature)
        assert "wrong in value[1]" in error.reason

    @given(presented=st.text(max_size=200))
    def test_any_other_client_state_is_rejected(self, presented: str) -> None:
        """Whatever is presented, only the configured secret passes."""
        if presented == SECRET:
            return
        body = json.dumps(
            {"value": [{**graph_change("users/u/messages/m1"), "clientState": presented}]}
        ).encode()
        assert isinstance(
            rejected(sut().verify, req({}, body)), InvalidSignature | MalformedWebhook
        )

    @pytest.mark.parametrize(
        "body", [b"", b"[]", b'{"value": []}', b'{"value": {}}', b'{"value": ["x"]}']
    )
    def test_a_body_that_is_not_a_notification_collection_is_malformed(self, body: bytes) -> None:
        """Not ``{"value": [object, ...]}``: a 400, never an exception of another kind."""
        assert isinstance(rejected(sut().verify, req({}, body)), MalformedWebhook)


@pytest.mark.parametrize("secret", ["short", "x" * 129, "sixteen-chars-é-x"])
def test_a_weak_or_invalid_client_state_is_refused_at_start_up(secret: str) -> None:
    """16 to 128 printable ASCII characters (Graph's limit is 128)."""
    with pytest.raises(InvalidValue):
        GraphNotificationVerifier(secret)


def test_the_secret_is_not_in_the_repr() -> None:
    """The clientState never shows in a repr (logs, tracebacks)."""
    assert SECRET not in repr(sut())
