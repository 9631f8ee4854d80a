"""
Shared mechanics of every verifier: one header, one timestamp window, one constant-time match.

Kept in one place so the six schemes differ only in *what* they sign, never in how strictly
they read headers or compare digests.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from ...domain.errors import InvalidSignature, MalformedWebhook, StaleTimestamp
from ...domain.webhooks import WebhookRequest


__all__ = [
    "any_match",
    "b64decode_strict",
    "check_window",
    "describe_url",
    "mismatch",
    "parse_timestamp",
    "rebase_url",
    "single_header",
    "utf8",
]

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
_DIGITS = re.compile(r"[0-9]{1,16}")


def single_header(
    request: WebhookRequest, name: str, *, integration: str, required: bool = True
) -> str | None:
    """
    The one value of header ``name``, stripped, or None when absent and not required.

    A duplicated signature header is refused rather than resolved: a proxy that appends a
    second value, or an attacker who adds one, must not decide which value is checked.

    Raises:
        InvalidSignature: the header is required and absent or empty.
        MalformedWebhook: the header is sent more than once or is not printable ASCII.
    """
    values = request.headers.get_all(name)
    if len(values) > 1:
        msg = f"{name} header sent {len(values)} times; exactly one is expected"
        raise MalformedWebhook(msg, integration=integration)
    value = values[0].strip() if values else ""
    if not _PRINTABLE_ASCII.fullmatch(value):
        msg = f"{name} header is not printable ASCII"
        raise MalformedWebhook(msg, integration=integration)
    if not value:
        if required:
            msg = f"missing {name} header" if not values else f"{name} header is empty"
            raise InvalidSignature(msg, integration=integration)
        return None
    return value


def parse_timestamp(raw: str, *, header: str, integration: str) -> int:
    """An integer timestamp made of ASCII digits only (no sign, no spaces, no exponent)."""
    if not _DIGITS.fullmatch(raw):
        msg = f"{header} must be an integer timestamp (digits only)"
        raise MalformedWebhook(msg, integration=integration)
    return int(raw)


def check_window(
    signed_at: float, *, now: float, tolerance: float, header: str, integration: str
) -> None:
    """
    Refuse a signed timestamp more than ``tolerance`` seconds old or ahead of ``now``.

    Too old is a replay or a long-queued retry; too far ahead is a skewed clock or a forged
    timestamp meant to stay valid for a long time.
    """
    age = now - signed_at
    if age > tolerance:
        msg = (
            f"{header} is {age:.0f}s old, over the {tolerance:g}s tolerance "
            "(a replayed delivery, or this server's clock is wrong)"
        )
        raise StaleTimestamp(msg, integration=integration)
    if -age > tolerance:
        msg = (
            f"{header} is {-age:.0f}s in the future, over the {tolerance:g}s tolerance "
            "(this server's or the sender's clock is wrong)"
        )
        raise StaleTimestamp(msg, integration=integration)


def any_match(expected: Iterable[bytes], presented: Iterable[bytes]) -> bool:
    """
    True when any expected digest equals any presented one, compared in constant time.

    Every pair is compared (no short-circuit), so timing does not reveal which secret or which
    of several presented signatures matched.
    """
    presented = list(presented)
    found = False
    for mine in expected:
        for theirs in presented:
            found |= hmac.compare_digest(mine, theirs)
    return found


def b64decode_strict(value: str) -> bytes | None:
    """Standard base64 with padding, or None when ``value`` is not exactly that."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        return None


def utf8(text: str, *, what: str, integration: str) -> bytes:
    """``text`` as UTF-8; a string that cannot be encoded (lone surrogates) is malformed."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"{what} is not valid text"
        raise MalformedWebhook(msg, integration=integration) from None


def rebase_url(url: str, public_base_url: str | None) -> str:
    """
    ``url`` as the provider called it: scheme and host (and port) replaced by the public base.

    Behind a proxy or tunnel the request reaches us as ``http://10.0.0.5:8000/webhooks/x`` while
    the provider signed ``https://api.example.com/webhooks/x``. A path in the base URL is a prefix
    (a proxy that strips ``/api`` before forwarding); the query and fragment are kept.
    """
    if public_base_url is None:
        return url
    parts = urlsplit(url)
    base = urlsplit(public_base_url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def describe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no credentials, no query (it may hold secrets)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def mismatch(what: str, *, integration: str, url: str | None = None) -> InvalidSignature:
    """The rejection for a signature that does not match, naming the URL that was signed."""
    if url is None:
        return InvalidSignature(f"{what} does not match", integration=integration)
    msg = (
        f"{what} does not match; the URL used was {describe_url(url)} - if the provider "
        "called another address (a proxy or tunnel in front of this app), set public_base_url"
    )
    return InvalidSignature(msg, integration=integration)
