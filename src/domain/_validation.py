"""Small attrs validators that raise `InvalidValue` naming the field, never echoing the value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .errors import InvalidValue


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def of_type(*types: type) -> Validator:
    """The value is an instance of one of ``types`` (``bool`` never passes for ``int``)."""
    names = " or ".join(t.__name__ for t in types)

    def check(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) and bool not in types:
            raise InvalidValue(attr.name, f"must be {names}, not bool")
        if not isinstance(value, types):
            raise InvalidValue(attr.name, f"must be {names}, not {type(value).__name__}")

    return check


def optional_of_type(*types: type) -> Validator:
    """Like `of_type`, but ``None`` passes."""
    inner = of_type(*types)

    def check(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            inner(inst, attr, value)

    return check


def text(*, max_length: int, allow_empty: bool = False) -> Validator:
    """A ``str`` that is not blank (unless allowed) and at most ``max_length`` characters."""

    def check(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str):
            raise InvalidValue(attr.name, f"must be str, not {type(value).__name__}")
        if not allow_empty and not value.strip():
            raise InvalidValue(attr.name, "must not be empty")
        if len(value) > max_length:
            raise InvalidValue(attr.name, f"must be at most {max_length} characters")

    return check


def optional_text(*, max_length: int) -> Validator:
    """Like `text`, but ``None`` passes."""
    inner = text(max_length=max_length)

    def check(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            inner(inst, attr, value)

    return check


def str_mapping(*, max_items: int = 50, max_key: int = 40, max_value: int = 500) -> Validator:
    """
    A mapping of ``str`` to ``str`` within vendor limits (Stripe metadata: 50 keys, 40/500 chars).
    """

    def check(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, Mapping):
            raise InvalidValue(attr.name, f"must be a mapping, not {type(value).__name__}")
        if len(value) > max_items:
            raise InvalidValue(attr.name, f"must have at most {max_items} entries")
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > max_key:
                raise InvalidValue(attr.name, f"keys must be non-empty str of at most {max_key}")
            if not isinstance(item, str) or len(item) > max_value:
                raise InvalidValue(
                    attr.name, f"value of {key!r} must be str of at most {max_value} characters"
                )

    return check


def frozen_mapping(value: Mapping[str, str] | None) -> Mapping[str, str]:
    """Converter: copy a mapping into a read-only one so frozen values stay frozen."""
    if value is None:
        return MappingProxyType({})
    try:
        return MappingProxyType(dict(value))
    except (TypeError, ValueError):
        return value  # not a mapping: the validator names the field and the rule
