"""
Safe reading of vendor payloads: every parser goes through `Node`, never through ``dict[...]``.

A `Node` is a decoded JSON (or form) value plus its path in the payload. Its typed getters return
the value or raise `MalformedWebhook` naming the provider and the path (``entry[0].changes[1]
.value.statuses[0].id: missing``), so a bad body is always a 400 with a reason and never a
KeyError, TypeError or a crash. Values themselves never appear in reasons: they may be patient
data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from ...domain.errors import InvalidValue, MalformedWebhook


__all__ = ["Node", "epoch_seconds", "iso_datetime", "load_form", "load_json", "translate_invalid"]

_DIGITS = re.compile(r"-?[0-9]{1,18}")
_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _describe(value: object) -> str:
    return _NAMES.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def load_json(body: bytes, *, provider: str) -> Node:
    """Decode a UTF-8 JSON body into a `Node`, or raise `MalformedWebhook` saying why."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedWebhook("body is not UTF-8", integration=provider) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise MalformedWebhook("body JSON is nested too deeply", integration=provider) from None
    except json.JSONDecodeError as err:
        raise MalformedWebhook(
            f"body is not valid JSON (line {err.lineno}, column {err.colno})", integration=provider
        ) from None
    except ValueError:  # NaN / Infinity, integers over Python's digit limit
        raise MalformedWebhook(
            "body is not valid JSON (NaN, Infinity or an over-long number)", integration=provider
        ) from None
    return Node(value, provider=provider, path="body")


def load_form(body: bytes, *, provider: str) -> Node:
    """Decode an ``application/x-www-form-urlencoded`` body; the first value of a name wins."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise MalformedWebhook("body is not UTF-8 form data", integration=provider) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return Node(fields, provider=provider, path="form")


def epoch_seconds(seconds: float, *, field: str, provider: str) -> datetime:
    """A UTC datetime from Unix seconds, or `MalformedWebhook` when out of range."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedWebhook(f"{field}: not a valid Unix time", integration=provider) from None


def iso_datetime(text: str, *, field: str, provider: str) -> datetime:
    """A UTC datetime from ISO 8601 (``Z`` accepted), or `MalformedWebhook`."""
    try:
        parsed = datetime.fromisoformat(
            text.replace("Z", "+00:00", 1) if text.endswith("Z") else text
        )
    except ValueError:
        raise MalformedWebhook(f"{field}: not an ISO 8601 time", integration=provider) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@contextmanager
def translate_invalid(provider: str, path: str) -> Iterator[None]:
    """Turn a domain `InvalidValue` raised while building an event into `MalformedWebhook`."""
    try:
        yield
    except InvalidValue as err:
        raise MalformedWebhook(f"{path}.{err.field}: {err.rule}", integration=provider) from None


class Node:
    """A value inside a payload, with the path that leads to it and typed, checked getters."""

    __slots__ = ("path", "provider", "value")

    def __init__(self, value: object, *, provider: str, path: str) -> None:
        self.value = value
        self.provider = provider
        self.path = path

    def __repr__(self) -> str:
        return f"Node({self.path}: {_describe(self.value)})"

    def fail(self, rule: str, name: str | None = None) -> NoReturn:
        """Raise `MalformedWebhook` for this node (or its field ``name``)."""
        where = self.path if name is None else f"{self.path}.{name}"
        raise MalformedWebhook(f"{where}: {rule}", integration=self.provider)

    def _object(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            self.fail(f"must be an object, not {_describe(self.value)}")
        return self.value

    def _field(self, name: str, required: bool) -> object:
        fields = self._object()
        if name not in fields or (fields[name] is None and not required):
            if required:
                self.fail("missing", name)
            return None
        return fields[name]

    def has(self, name: str) -> bool:
        """Whether the object has ``name`` with a non-null value."""
        return isinstance(self.value, dict) and self.value.get(name) is not None

    def child(self, name: str) -> Node:
        """The required object ``name``."""
        value = self._field(name, True)
        node = Node(value, provider=self.provider, path=f"{self.path}.{name}")
        node._object()
        return node

    def opt_child(self, name: str) -> Node | None:
        """The object ``name``, or None when absent or null."""
        return None if self._field(name, False) is None else self.child(name)

    def items(self, name: str, *, required: bool = True) -> list[Node]:
        """The array ``name`` as nodes (``[]`` when optional and absent)."""
        value = self._field(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"must be an array, not {_describe(value)}", name)
        return [
            Node(item, provider=self.provider, path=f"{self.path}.{name}[{i}]")
            for i, item in enumerate(value)
        ]

    def elements(self) -> list[Node]:
        """This node as an array of nodes."""
        if not isinstance(self.value, list):
            self.fail(f"must be an array, not {_describe(self.value)}")
        return [
            Node(item, provider=self.provider, path=f"{self.path}[{i}]")
            for i, item in enumerate(self.value)
        ]

    def text(self, name: str, *, max_length: int = 65_536) -> str:
        """The required non-empty string ``name``."""
        value = self._field(name, True)
        if not isinstance(value, str):
            self.fail(f"must be a string, not {_describe(value)}", name)
        if not value.strip():
            self.fail("must not be empty", name)
        if len(value) > max_length:
            self.fail(f"must be at most {max_length} characters", name)
        return value

    def opt_text(self, name: str, *, max_length: int = 1_000_000) -> str | None:
        """The string ``name``, or None when absent, null or empty."""
        value = self._field(name, False)
        if value is None or value == "":
            return None
        return self.text(name, max_length=max_length)

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        """The required integer ``name`` (a JSON number, or a string of digits in forms)."""
        value = self._field(name, True)
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer, not {_describe(value)}", name)
        if minimum is not None and value < minimum:
            self.fail(f"must be at least {minimum}", name)
        return value

    def opt_integer(self, name: str, *, minimum: int | None = None) -> int | None:
        """The integer ``name``, or None when absent or null."""
        return None if self._field(name, False) is None else self.integer(name, minimum=minimum)

    def number(self, name: str) -> float:
        """The required finite number ``name``."""
        value = self._field(name, True)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"must be a number, not {_describe(value)}", name)
        try:
            return float(value)
        except OverflowError:
            self.fail("is too large", name)

    def opt_number(self, name: str) -> float | None:
        """The number ``name``, or None when absent or null."""
        return None if self._field(name, False) is None else self.number(name)

    def identifier(self, name: str, *, max_length: int = 255) -> str:
        """A required id: a non-empty string, or an integer rendered in decimal."""
        value = self._field(name, True)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(name, max_length=max_length)

    def timestamp(self, name: str, *, unit: float = 1.0) -> datetime:
        """A required Unix time (number or digit string) in ``unit`` seconds (0.001 for ms)."""
        value = self._field(name, True)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                self.fail("must be a Unix time", name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"must be a Unix time, not {_describe(value)}", name)
        try:
            seconds = float(value) * unit
        except OverflowError:
            self.fail("is not a valid Unix time", name)
        return epoch_seconds(seconds, field=f"{self.path}.{name}", provider=self.provider)
