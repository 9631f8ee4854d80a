"""An inbound HTTP delivery, exactly as received, for verifiers and parsers."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

import attrs

from .events import DomainEvent


__all__ = ["ClaimOutcome", "Headers", "ParsedDelivery", "SignatureScheme", "WebhookRequest"]


class Headers(Mapping[str, str]):
    """
    Case-insensitive, multi-valued HTTP headers.

    ``headers["stripe-signature"]`` returns the first value; `get_all` returns every value, so a
    verifier can refuse a duplicated signature header instead of silently picking one.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        store: dict[str, list[str]] = {}
        for name, value in pairs:
            store.setdefault(name.lower(), []).append(value)
        self._items = store

    @classmethod
    def from_wire(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from raw ``(name, value)`` byte pairs (an ASGI scope's), read as latin-1."""
        headers = cls()
        store = headers._items
        for name, value in raw:
            key = name.decode("latin-1").lower()
            found = store.get(key)
            if found is None:
                store[key] = [value.decode("latin-1")]
            else:
                found.append(value.decode("latin-1"))
        return headers

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order received."""
        return list(self._items.get(name.lower(), ()))

    def __repr__(self) -> str:
        # Header values may carry secrets (Authorization, X-Vapi-Secret): names only.
        return f"Headers({sorted(self._items)!r})"


def _headers(raw: Headers | Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
    return raw if isinstance(raw, Headers) else Headers(raw)


def _method(raw: str) -> str:
    return raw.upper()


@attrs.frozen
class WebhookRequest:
    """
    One delivery: method, full URL as the provider called it, headers and the raw body bytes.

    The body is never re-serialised: signatures are computed over the exact bytes received.
    """

    method: str = attrs.field(converter=_method)
    url: str
    headers: Headers = attrs.field(converter=_headers)
    body: bytes = attrs.field(default=b"", repr=lambda b: f"<{len(b)} bytes>")

    @property
    def query(self) -> list[tuple[str, str]]:
        """The URL's query parameters, in order."""
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)


class ClaimOutcome(enum.Enum):
    """What the replay store answered when asked to claim an event for processing."""

    CLAIMED = "claimed"  # ours to process; complete or release it afterwards
    DUPLICATE = "duplicate"  # processed before: acknowledge, do nothing
    IN_FLIGHT = "in_flight"  # another worker holds an unexpired claim: ask the provider to retry


@attrs.frozen
class ParsedDelivery:
    """
    What one delivery contained: domain events (each with its provider-scoped ``event_id``, the
    replay store's dedup key) and the vendor event types it acknowledged without understanding.
    """

    provider: str
    events: tuple[DomainEvent, ...] = ()
    unknown_types: tuple[str, ...] = ()


@attrs.frozen
class SignatureScheme:
    """
    What a webhook verifier checks, in words for the audit report (never a secret).

    Attributes:
        scheme: the signature it verifies, e.g. ``Stripe-Signature t=,v1= HMAC-SHA256``.
        tolerance: seconds a signed timestamp may be old or ahead; None when the scheme signs
            no timestamp (a captured delivery then verifies forever: only the replay store
            refuses it again, for its retention).
        legacy: older schemes also accepted (HubSpot v1/v2), None when none.
        legacy_cost: what accepting them costs.
    """

    scheme: str
    tolerance: float | None
    legacy: str | None = None
    legacy_cost: str | None = None
