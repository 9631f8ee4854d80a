"""
Reads the fields of a decoded JSON object for `domain.command_codec`, naming the dotted path of
the field in every error (``request.amount.currency``) and never echoing its value.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from .errors import InvalidValue
from .values import IdempotencyKey, Money


__all__ = ["PathError", "Reader"]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
Obj = Mapping[str, Any]


class PathError(InvalidValue):
    """An error that already names the full dotted path of its field."""


class Reader:
    """Reads fields out of one JSON object, naming the dotted path in every error."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise PathError(path or "command", "must be a JSON object")
        self.data: Obj = data
        self.path = path

    def name(self, field: str) -> str:
        return f"{self.path}.{field}" if self.path else field

    def get(self, field: str, kind: type[T]) -> T:
        value = self.opt(field, kind)
        if value is None:
            raise PathError(self.name(field), "is required")
        return value

    def opt(self, field: str, kind: type[T]) -> T | None:
        value = self.data.get(field)
        if value is None:
            return None
        if isinstance(value, bool) and kind is not bool:
            raise PathError(self.name(field), f"must be {kind.__name__}, not bool")
        if not isinstance(value, kind):
            raise PathError(
                self.name(field), f"must be {kind.__name__}, not {type(value).__name__}"
            )
        return value

    def sub(self, field: str) -> Reader:
        return Reader(self.get(field, dict), self.name(field))

    def build(self, fn: Callable[[], T]) -> T:
        """Run a domain constructor, prefixing the field its error names with this object's path."""
        try:
            return fn()
        except PathError:
            raise
        except InvalidValue as err:
            raise PathError(self.name(err.field), err.rule) from None

    def key(self, field: str) -> IdempotencyKey:
        raw = self.get(field, str)
        try:
            return IdempotencyKey(raw)
        except InvalidValue as err:
            raise PathError(self.name(field), err.rule) from None

    def opt_key(self, field: str) -> IdempotencyKey | None:
        return None if self.data.get(field) is None else self.key(field)

    def enum(self, field: str, kind: type[E]) -> E | None:
        raw = self.opt(field, str)
        if raw is None:
            return None
        try:
            return kind(raw)
        except ValueError:
            raise PathError(self.name(field), f"is not a known {kind.__name__}") from None

    def money(self, field: str) -> Money:
        sub = self.sub(field)
        amount, currency = sub.get("amount_minor", int), sub.get("currency", str)
        return sub.build(lambda: Money(amount, currency))

    def opt_money(self, field: str) -> Money | None:
        return None if self.data.get(field) is None else self.money(field)

    def instant(self, field: str) -> datetime:
        raw = self.get(field, str)
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise PathError(self.name(field), "must be an ISO 8601 datetime") from None
        if value.utcoffset() is None:
            raise PathError(self.name(field), "must carry a UTC offset")
        return value

    def strings(self, field: str) -> dict[str, str]:
        raw = self.opt(field, dict) or {}
        if not all(isinstance(k, str) and isinstance(x, str) for k, x in raw.items()):
            raise PathError(self.name(field), "must map str to str")
        return dict(raw)

    def texts(self, field: str) -> tuple[str, ...]:
        raw = self.opt(field, list) or []
        if not all(isinstance(x, str) for x in raw):
            raise PathError(self.name(field), "must be a list of str")
        return tuple(raw)
