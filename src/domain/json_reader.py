"""
Typed, safe reading of decoded JSON: every reader of outside data goes through `JsonNode`.

A `JsonNode` is a decoded JSON (or form) value plus its dotted path (``entry[0].changes[1]
.value.statuses[0].id``). Its getters return the value with the type asked for, or raise the
error the node was made with, naming the path and the rule, never the value (it may be patient
data). One reader serves every source; only the error differs:

=======================  ======================================  ===============================
source                   error                                    made with
=======================  ======================================  ===============================
a webhook body           `MalformedWebhook` (a 400)              `malformed` (``provider``)
a vendor's 2xx answer    `UnexpectedResponse`                    ``adapters.http.response_errors``
a stored command         `InvalidValue` (as `PathError`)         `PathError` itself
=======================  ======================================  ===============================

So a missing or mistyped field is always that error, never a KeyError or a TypeError.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from .errors import InvalidValue, MalformedWebhook


__all__ = ["ErrorFactory", "JsonNode", "PathError", "malformed", "parse_json"]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

ErrorFactory = Callable[[str, str], Exception]
"""``(path, rule) -> the error to raise``: how a `JsonNode` reports a bad field."""

_NAMES: dict[type, str] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
_MAX_DIGITS = 18  # a digit string longer than this is not an integer any vendor sends


def _describe(value: object) -> str:
    return _NAMES.get(type(value), type(value).__name__)


class PathError(InvalidValue):
    """
    An `InvalidValue` whose ``field`` is already the full dotted path.

    The error factory of stored data: `JsonNode.build` passes it through unchanged, where it
    prefixes the node's path to a plain `InvalidValue` raised by a domain constructor.
    """


def malformed(provider: str) -> ErrorFactory:
    """The error factory of a webhook body: `MalformedWebhook` ``"<path>: <rule>"``, a 400."""

    def error(path: str, rule: str) -> Exception:
        return MalformedWebhook(f"{path}: {rule}", integration=provider)

    return error


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# One decoder for every document: `json.loads` with an option builds a new decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(body: bytes | str, *, error: ErrorFactory, path: str = "body") -> JsonNode:
    """
    Decode UTF-8 JSON into a `JsonNode`, or raise ``error(path, why)``.

    Stricter than `json.loads`: ``NaN`` and ``Infinity`` are refused, and so are integers over
    Python's digit limit and nesting deeper than the recursion limit (each with its own reason).
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise error(path, "not UTF-8") from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise error(path, "JSON nested too deeply") from None
    except json.JSONDecodeError as err:
        raise error(path, f"not valid JSON (line {err.lineno}, column {err.colno})") from None
    except ValueError:  # NaN / Infinity, integers over Python's digit limit
        raise error(path, "not valid JSON (NaN, Infinity or an over-long number)") from None
    return JsonNode(value, error=error, path=path)


class JsonNode:
    """
    A value inside a document, with the path that leads to it and typed, checked getters.

    Args:
        value: the decoded JSON value (objects are read field by field, arrays item by item).
        error: makes the error to raise from ``(path, rule)``; children share it.
        path: where ``value`` sits, for errors (``""`` at the root: fields are named bare).

    Absent and ``null`` fields are the same: a required getter raises ``missing``, an ``opt_``
    getter returns None.

    A child remembers its parent and its key, not its path: the dotted path is spelled only when
    asked for (`path`, an error), so reading a valid document builds no path strings.
    """

    __slots__ = ("_error", "_key", "_parent", "value")

    def __init__(self, value: object, *, error: ErrorFactory, path: str = "") -> None:
        self.value = value
        self._error = error
        self._parent: JsonNode | None = None
        self._key: str | int = path  # the root's path; a child's field name or array index

    def _at(self, value: object, key: str | int) -> JsonNode:
        """The child node holding ``value`` at ``key`` of this one."""
        node = _new_node(JsonNode)
        node.value = value
        node._error = self._error
        node._parent = self
        node._key = key
        return node

    def __repr__(self) -> str:
        return f"JsonNode({self.path or '<root>'}: {_describe(self.value)})"

    # ------------------------------------------------------------------ where and why

    @property
    def path(self) -> str:
        """Where this value sits: ``entry[0].changes[1].value`` (``""`` for a bare root)."""
        parent, key = self._parent, self._key
        if parent is None:
            return str(key)
        if isinstance(key, int):
            return f"{parent.path}[{key}]"
        return parent.name(key)

    def name(self, field: str) -> str:
        """The dotted path of ``field`` of this object."""
        path = self.path
        return f"{path}.{field}" if path else field

    def fail(self, rule: str, field: str | None = None) -> NoReturn:
        """Raise this node's error for itself (or for its ``field``)."""
        where = (self.path or "<root>") if field is None else self.name(field)
        raise self._error(where, rule)

    def build(self, make: Callable[[], T]) -> T:
        """
        Run a domain constructor; the `InvalidValue` it raises becomes this node's error.

        The field the domain names is prefixed with this node's path (``request.amount.currency``).
        A `PathError` (an inner node's, when the error is `PathError`) already names its full path
        and passes through.
        """
        try:
            return make()
        except PathError:
            raise
        except InvalidValue as err:
            self.fail(err.rule, err.field)

    # ------------------------------------------------------------------ structure

    @property
    def raw(self) -> Mapping[str, Any]:
        """This object as a mapping (for a field whose shape varies, e.g. an id or an object)."""
        return self._object()

    def _object(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            self.fail(f"must be an object, not {_describe(self.value)}")
        return self.value

    def _field(self, field: str, required: bool) -> object:
        obj = self.value
        if not isinstance(obj, dict):
            self.fail(f"must be an object, not {_describe(obj)}")
        value = obj.get(field)
        if value is None and required:
            self.fail("missing", field)
        return value

    def has(self, field: str) -> bool:
        """Whether this is an object with ``field`` set (not null)."""
        return isinstance(self.value, dict) and self.value.get(field) is not None

    def get(self, field: str, kind: type[T]) -> T:
        """The required ``field``, exactly of JSON type ``kind`` (and no other rule: ``""`` is)."""
        value = self.opt(field, kind)
        if value is None:
            self.fail("missing", field)
        return value

    def opt(self, field: str, kind: type[T]) -> T | None:
        """Like `get`, or None when absent or null. A boolean is never an int or a float."""
        value = self._field(field, False)
        if value is None:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.fail(f"must be {_NAMES.get(kind, kind.__name__)}, not {_describe(value)}", field)
        return value

    def child(self, field: str) -> JsonNode:
        """The required object ``field``."""
        value = self._field(field, True)
        if not isinstance(value, dict):
            self.fail(f"must be an object, not {_describe(value)}", field)
        return self._at(value, field)

    def opt_child(self, field: str) -> JsonNode | None:
        """The object ``field``, or None when absent or null."""
        value = self._field(field, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(f"must be an object, not {_describe(value)}", field)
        return self._at(value, field)

    def items(self, field: str, *, required: bool = True) -> list[JsonNode]:
        """The array ``field`` as nodes (``[]`` when optional and absent)."""
        value = self._field(field, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"must be an array, not {_describe(value)}", field)
        return self._at(value, field).elements()

    def elements(self) -> list[JsonNode]:
        """This node as an array of nodes."""
        if not isinstance(self.value, list):
            self.fail(f"must be an array, not {_describe(self.value)}")
        return [self._at(item, i) for i, item in enumerate(self.value)]

    # ------------------------------------------------------------------ scalars

    def text(self, field: str, *, max_length: int = 65_536) -> str:
        """The required non-blank string ``field``."""
        return self._text(field, self._field(field, True), max_length)

    def opt_text(self, field: str, *, max_length: int = 1_000_000) -> str | None:
        """The string ``field``, or None when absent, null or empty."""
        value = self._field(field, False)
        if value is None or value == "":
            return None
        return self._text(field, value, max_length)

    def _text(self, field: str, value: object, max_length: int) -> str:
        if not isinstance(value, str):
            self.fail(f"must be a string, not {_describe(value)}", field)
        if not value or value.isspace():
            self.fail("must not be empty", field)
        if len(value) > max_length:
            self.fail(f"must be at most {max_length} characters", field)
        return value

    def integer(self, field: str, *, minimum: int | None = None) -> int:
        """The required integer ``field`` (a JSON integer, or a string of digits as forms send)."""
        value = self._field(field, True)
        if isinstance(value, str) and _is_digits(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer, not {_describe(value)}", field)
        if minimum is not None and value < minimum:
            self.fail(f"must be at least {minimum}", field)
        return value

    def opt_integer(self, field: str, *, minimum: int | None = None) -> int | None:
        """The integer ``field``, or None when absent or null."""
        return None if self._field(field, False) is None else self.integer(field, minimum=minimum)

    def number(self, field: str) -> float:
        """The required finite number ``field``."""
        value = self._field(field, True)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"must be a number, not {_describe(value)}", field)
        try:
            return float(value)
        except OverflowError:
            self.fail("is too large", field)

    def opt_number(self, field: str) -> float | None:
        """The number ``field``, or None when absent or null."""
        return None if self._field(field, False) is None else self.number(field)

    def identifier(self, field: str, *, max_length: int = 255) -> str:
        """A required id: a non-empty string, or an integer rendered in decimal."""
        value = self._field(field, True)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return self.text(field, max_length=max_length)

    def enum(self, field: str, kind: type[E]) -> E:
        """The required ``field`` as a member of ``kind``, by value."""
        raw = self.get(field, str)
        try:
            return kind(raw)
        except ValueError:
            self.fail(f"is not a known {kind.__name__}", field)

    def opt_enum(self, field: str, kind: type[E]) -> E | None:
        """Like `enum`, or None when absent or null."""
        return None if self._field(field, False) is None else self.enum(field, kind)

    def timestamp(self, field: str, *, unit: float = 1.0) -> datetime:
        """A required Unix time (number or digit string) in ``unit`` seconds (0.001 for ms)."""
        value = self._field(field, True)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                self.fail("must be a Unix time", field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"must be a Unix time, not {_describe(value)}", field)
        try:
            return datetime.fromtimestamp(float(value) * unit, tz=UTC)
        except (OverflowError, OSError, ValueError):
            self.fail("not a valid Unix time", field)

    def iso_time(self, field: str) -> datetime:
        """A required ISO 8601 time (``Z`` accepted) as an aware datetime; naive means UTC."""
        text = self.text(field, max_length=64)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.fail("not an ISO 8601 time", field)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # ------------------------------------------------------------------ collections

    def text_map(self, field: str, *, lenient: bool = False) -> dict[str, str]:
        """
        The object ``field`` of string values (``{}`` when absent or null).

        Args:
            lenient: skip entries whose value is not a string (vendors mix nulls and numbers
                into property maps) instead of refusing the field.
        """
        value = self.opt(field, dict) or {}
        if lenient:
            return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
        if not all(isinstance(v, str) for v in value.values()):
            self.fail("must map strings to strings", field)
        return dict(value)

    def texts(self, field: str) -> tuple[str, ...]:
        """The array ``field`` of strings (``()`` when absent or null)."""
        value = self.opt(field, list) or []
        if not all(isinstance(v, str) for v in value):
            self.fail("must be an array of strings", field)
        return tuple(value)


_new_node = object.__new__


def _is_digits(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return 0 < len(digits) <= _MAX_DIGITS and digits.isascii() and digits.isdigit()
