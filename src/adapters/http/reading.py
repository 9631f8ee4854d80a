"""
Typed, safe reading of vendor JSON: a missing or mistyped field becomes `UnexpectedResponse`
naming the field (never a KeyError or a TypeError reaching the caller).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import unexpected


__all__ = ["Fields"]

T = TypeVar("T")


class Fields:
    """A decoded JSON object with typed accessors; ``path`` names where we are for errors."""

    __slots__ = ("_data", "_integration", "_operation", "_path")

    def __init__(
        self, data: Mapping[str, Any], *, integration: str, operation: str, path: str = ""
    ) -> None:
        self._data = data
        self._integration = integration
        self._operation = operation
        self._path = path

    @property
    def raw(self) -> Mapping[str, Any]:
        """The underlying mapping (for pass-through metadata)."""
        return self._data

    def _name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _get(self, key: str, kind: type[T] | tuple[type, ...], *, required: bool) -> Any:
        value = self._data.get(key)
        if value is None:
            if required:
                raise unexpected(self._integration, self._operation, f"missing {self._name(key)}")
            return None
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise unexpected(self._integration, self._operation, f"{self._name(key)} not a number")
        if not isinstance(value, kind):
            raise unexpected(
                self._integration, self._operation, f"{self._name(key)} has a bad type"
            )
        return value

    def text(self, key: str) -> str:
        """A required string."""
        return str(self._get(key, str, required=True))

    def opt_text(self, key: str) -> str | None:
        """An optional string (None when missing or null)."""
        value = self._get(key, str, required=False)
        return None if value is None else str(value)

    def integer(self, key: str) -> int:
        """A required integer."""
        return int(self._get(key, int, required=True))

    def opt_integer(self, key: str) -> int | None:
        """An optional integer."""
        value = self._get(key, int, required=False)
        return None if value is None else int(value)

    def opt_number(self, key: str) -> float | None:
        """An optional number."""
        value = self._get(key, (int, float), required=False)
        return None if value is None else float(value)

    def opt_flag(self, key: str) -> bool | None:
        """An optional boolean."""
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise unexpected(self._integration, self._operation, f"{self._name(key)} not a bool")
        return value

    def obj(self, key: str) -> Fields:
        """A required nested object."""
        return self._child(key, self._get(key, dict, required=True))

    def opt_obj(self, key: str) -> Fields | None:
        """An optional nested object."""
        value = self._get(key, dict, required=False)
        return None if value is None else self._child(key, value)

    def objects(self, key: str, *, required: bool = True) -> list[Fields]:
        """A list of objects (an empty list when optional and missing)."""
        items = self._get(key, list, required=required) or []
        result = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise unexpected(
                    self._integration, self._operation, f"{self._name(key)}[{index}] not an object"
                )
            result.append(self._child(f"{key}[{index}]", item))
        return result

    def text_map(self, key: str) -> dict[str, str]:
        """An optional object of string values (metadata, properties); non-strings are skipped."""
        value = self._get(key, dict, required=False) or {}
        return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}

    def strings(self) -> dict[str, str]:
        """Every string value of this object (HubSpot properties); other values are skipped."""
        return {k: v for k, v in self._data.items() if isinstance(v, str)}

    def _child(self, key: str, value: Mapping[str, Any]) -> Fields:
        return Fields(
            value, integration=self._integration, operation=self._operation, path=self._name(key)
        )
