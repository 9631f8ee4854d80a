"""HubSpot's X-HubSpot-RateLimit-* headers reach the account's shared quota (`RateFeedback`)."""

from __future__ import annotations

import httpx
import pytest

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.hubspot.errors import quota_left
from portico.domain.errors import RateLimited


class Recorder:
    """A `RateFeedback` that keeps what it was told."""

    def __init__(self) -> None:
        self.slowed: list[tuple[int, float]] = []
        self.paused: list[float] = []

    async def pause(self, seconds: float) -> None:
        self.paused.append(seconds)

    async def slow(self, remaining: int, window: float) -> None:
        self.slowed.append((remaining, window))


def test_the_fewer_of_the_interval_and_daily_counts_over_the_interval() -> None:
    headers = httpx.Headers(
        {
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": "37",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "12",
        }
    )
    assert quota_left(headers) == (12, 10.0)
    oauth = httpx.Headers(
        {
            "X-HubSpot-RateLimit-Remaining": "37",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        }
    )
    assert quota_left(oauth) == (37, 10.0)
    assert quota_left(httpx.Headers({"X-HubSpot-RateLimit-Remaining": "3"})) is None
    assert quota_left(httpx.Headers({})) is None


async def test_every_response_and_a_429_tell_the_feedback() -> None:
    answers = iter(
        [
            httpx.Response(
                200,
                json={"id": "51", "properties": {"email": "a@example.com"}},
                headers={
                    "X-HubSpot-RateLimit-Remaining": "4",
                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                },
            ),
            httpx.Response(
                429,
                json={"status": "error", "message": "limit", "errorType": "RATE_LIMIT"},
                headers={
                    "X-HubSpot-RateLimit-Remaining": "0",
                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                },
            ),
        ]
    )
    feedback = Recorder()
    crm = HubSpotCRM.connect(
        "pat-na1-quota",
        transport=httpx.MockTransport(lambda request: next(answers)),
        rate_feedback=feedback,
    )
    try:
        await crm.get_contact("51")
        with pytest.raises(RateLimited) as caught:
            await crm.get_contact("51")
    finally:
        await crm.aclose()
    assert feedback.slowed == [(4, 10.0), (0, 10.0)]
    assert caught.value.retry_after == 10.0  # the pipeline pauses the account with it


async def test_without_feedback_the_headers_are_not_read() -> None:
    crm = HubSpotCRM.connect(
        "pat-na1-quota",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, json={"id": "51", "properties": {}})
        ),
    )
    try:
        await crm.get_contact("51")
        assert crm._client.on_response is None
    finally:
        await crm.aclose()
