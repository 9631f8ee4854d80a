"""
The vendor registry: every `VendorSpec` the wiring may use, built-in or the host's own.

The built-in vendors are one line each in `BUILTIN_VENDORS`. A host (or a test) adds a vendor of
its own, for an existing port, without editing Portico::

    container = portico.create_container(config, vendors=[MY_CRM_SPEC])

and selects it like any other (``crm.provider: mycrm``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ...adapters.graph.spec import SPEC as GRAPH
from ...adapters.hubspot.spec import SPEC as HUBSPOT
from ...adapters.spec import VendorSpec
from ...adapters.stripe.spec import SPEC as STRIPE
from ...adapters.twilio.spec import SPEC as TWILIO
from ...adapters.vapi.spec import SPEC as VAPI
from ...adapters.whatsapp.spec import DIALOG360_SPEC as DIALOG360
from ...adapters.whatsapp.spec import SPEC as WHATSAPP
from ...domain.errors import ConfigurationError
from ...ports.execute import PORTS


__all__ = ["BUILTIN_VENDORS", "PORT_NAMES", "VendorRegistry"]

PORT_NAMES = tuple(PORTS)  # the ports a vendor may implement: ports.execute.PORTS

# The first vendor of a port is its default (the fake environment names its pipeline after it).
BUILTIN_VENDORS: tuple[VendorSpec[Any], ...] = (
    WHATSAPP,
    DIALOG360,
    TWILIO,
    HUBSPOT,
    STRIPE,
    VAPI,
    GRAPH,
)


class VendorRegistry:
    """Specs by integration name, in registration order; names and webhook routes are unique."""

    def __init__(self, specs: Iterable[VendorSpec[Any]] = ()) -> None:
        self._specs: dict[str, VendorSpec[Any]] = {}
        for spec in specs:
            self.register(spec)

    @classmethod
    def builtin(cls, extra: Iterable[VendorSpec[Any]] = ()) -> VendorRegistry:
        """Portico's vendors, then ``extra``."""
        return cls([*BUILTIN_VENDORS, *extra])

    def register(self, spec: VendorSpec[Any]) -> None:
        """Add ``spec``; refuses an unknown port or a name or webhook route already taken."""
        if spec.port not in PORT_NAMES:
            raise ConfigurationError(
                f"vendor {spec.name!r}: port {spec.port!r} is not one of {', '.join(PORT_NAMES)}"
            )
        taken = {name for known in self._specs.values() for name in (known.name, *known.aliases)}
        if spec.name in taken or taken & set(spec.aliases) or spec.name == "none":
            raise ConfigurationError(f"vendor {spec.name!r}: the name is already registered")
        routes = {known.webhook.provider for known in self._specs.values() if known.webhook}
        if spec.webhook is not None and spec.webhook.provider in routes:
            raise ConfigurationError(
                f"vendor {spec.name!r}: webhook route {spec.webhook.provider!r} is taken"
            )
        self._specs[spec.name] = spec

    def __iter__(self) -> Iterator[VendorSpec[Any]]:
        return iter(self._specs.values())

    def get(self, name: str) -> VendorSpec[Any] | None:
        """The spec named ``name``, if registered."""
        return self._specs.get(name)

    def for_port(self, port: str) -> list[VendorSpec[Any]]:
        """The vendors that implement ``port``, default first."""
        return [spec for spec in self._specs.values() if spec.port == port]

    def reference(self) -> str:
        """The vendors as a Markdown table: integration, port, webhook route, summary."""
        lines = ["| integration | port | webhooks | what |", "|---|---|---|---|"]
        for spec in self:
            route = f"`/{spec.webhook.provider}`" if spec.webhook else ""
            lines.append(f"| `{spec.name}` | {spec.port} | {route} | {spec.summary} |")
        return "\n".join(lines) + "\n"

    def default_for(self, port: str) -> str:
        """The name of ``port``'s default vendor (names the fake's pipeline), else the port."""
        vendors = self.for_port(port)
        return vendors[0].name if vendors else port
