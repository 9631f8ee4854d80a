"""Shared helpers for the verifier tests: requests, strategies, one-byte mutations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import strategies as st

from portico.adapters.fakes import FakeClock
from portico.domain.errors import (
    InvalidSignature,
    MalformedWebhook,
    StaleTimestamp,
    WebhookRejected,
)
from portico.domain.webhooks import WebhookRequest


NOW = 1_750_000_000
URL = "https://hooks.example.com/webhooks/test?tenant=a"

bodies = st.binary(max_size=2048)
text_bodies = st.text(max_size=512).map(str.encode)
secrets = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
offsets = st.integers(min_value=-299, max_value=299)


def clock(now: float = NOW) -> FakeClock:
    """A clock stopped at ``now`` (epoch seconds)."""
    return FakeClock(datetime.fromtimestamp(now, UTC))


def req(
    headers: Mapping[str, str] | list[tuple[str, str]],
    body: bytes = b"{}",
    *,
    url: str = URL,
    method: str = "POST",
) -> WebhookRequest:
    """A delivery as the ingress would build it."""
    return WebhookRequest(method=method, url=url, headers=headers, body=body)


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one byte changed (the byte at ``index % len``, or one byte appended)."""
    if not data:
        return b"x"
    i = index % len(data)
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


def flip_char(text: str, index: int) -> str:
    """``text`` with one character changed (also case-insensitively, for hex)."""
    i = index % len(text)
    replacement = "0" if text[i].lower() != "0" else "1"
    return text[:i] + replacement + text[i + 1 :]


def rejected(
    verify: Callable[[WebhookRequest], object], request: WebhookRequest
) -> WebhookRejected:
    """The rejection ``verify`` raises; fails the test if it accepts or raises anything else."""
    with pytest.raises(WebhookRejected) as info:
        verify(request)
    assert type(info.value) in {InvalidSignature, StaleTimestamp, MalformedWebhook}
    return info.value


def accepts(verify: Callable[[WebhookRequest], None], request: WebhookRequest) -> bool:
    """True when ``verify`` accepts, False when it rejects (any other exception propagates)."""
    try:
        verify(request)
    except WebhookRejected:
        return False
    return True
