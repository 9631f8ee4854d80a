"""
What a vendor package exports so the wiring can use it without naming it: a `VendorSpec`.

Each ``adapters/<vendor>/spec.py`` defines one spec per integration it offers (WhatsApp's package
offers two: Meta's Cloud API and 360dialog). A spec says which port the vendor implements, the
attrs class of its settings section, how to build the adapter from those settings, its default
resilience policy (breaker thresholds and the vendor's published rate limit), and, when the
vendor sends webhooks, how to verify and parse them. The wiring (``app.wiring.registry``) keeps
the specs in a registry and iterates it; a host can add its own spec without editing Portico.

Settings classes are plain frozen attrs classes whose fields are declared with `setting`, which
records the help text and whether the value is a secret; ``app.wiring.settings`` reads them
generically (types, required values, unknown keys) and renders the reference table from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from ..domain.time import SYSTEM_CLOCK, Clock
from ..ports.delivery_status import DeliveryStatusStore
from ..ports.webhooks import WebhookParser, WebhookVerifier
from .resilience import RateFeedback, ResiliencePolicy


__all__ = [
    "CHOICES",
    "HELP",
    "REQUIRED_UNLESS",
    "SECRET",
    "BuildContext",
    "VendorSpec",
    "WebhookSpec",
    "setting",
]

S = TypeVar("S")
W = TypeVar("W")

CHOICES = "portico.choices"
HELP = "portico.help"
SECRET = "portico.secret"  # noqa: S105 - the metadata key, not a secret
REQUIRED_UNLESS = "portico.required_unless"


def setting(
    help: str,
    *,
    default: Any = attrs.NOTHING,
    secret: bool = False,
    choices: tuple[str, ...] = (),
    validator: Any = None,
    required_unless: str | None = None,
) -> Any:
    """
    An attrs field of a settings section: ``help`` feeds the reference table; a ``secret`` is
    never shown (reprs, errors, the table's defaults); ``choices`` are the only accepted values
    (compared lower-cased). No ``default`` makes the setting required; ``required_unless``
    (another field's name) makes it required when that field is not given either, reported with
    the section's other missing settings (the section's own rules check the rest).
    """
    if choices:
        help = f"{help} ({' | '.join(choices)})"
    if required_unless is not None and default is attrs.NOTHING:
        default = None
    return attrs.field(
        default=default,
        validator=validator,
        repr=not secret,
        metadata={
            HELP: help,
            SECRET: secret,
            CHOICES: choices,
            REQUIRED_UNLESS: required_unless,
        },
        kw_only=True,
    )


@attrs.frozen
class BuildContext:
    """
    What an adapter may need from the application besides its own settings section.

    Args:
        environment: ``sandbox`` or ``production`` (fakes serve ``fake``).
        status_store: the shared delivery-status store's factory (WhatsApp keeps statuses there).
        clock: the container's time source; an adapter that stamps or compares times reads it.
        rate_feedback: the account's shared quota (`SharedRateLimiter`), for an adapter that
            reads the vendor's "calls left" headers; None when the limits are not shared.
    """

    environment: str
    status_store: Callable[[], DeliveryStatusStore] = attrs.field(repr=False)
    clock: Clock = attrs.field(default=SYSTEM_CLOCK, repr=False)
    rate_feedback: RateFeedback | None = attrs.field(default=None, repr=False)


@attrs.frozen
class WebhookSpec(Generic[W]):
    """
    A vendor's webhooks: served at ``{mount}/{provider}``, configured under ``webhooks.<provider>``.

    Args:
        provider: the URL segment and the configuration section's name.
        settings: the attrs class of ``webhooks.<provider>`` (its secrets).
        development: published values used only in the ``fake`` environment (and refused
            elsewhere), so a developer can sign test deliveries with known secrets.
        endpoint: builds the verifier and the parser from the validated settings, on the given
            clock (signature timestamp windows, times of receipt).
        accepted_status: the 2xx a processed delivery is answered with (Graph asks for 202).

    A settings class with an ``enabled`` field set to false keeps its provider unserved.
    """

    provider: str
    settings: type[W]
    development: Mapping[str, str]
    endpoint: Callable[[W, Clock], tuple[WebhookVerifier, WebhookParser]]
    accepted_status: int = 200


@attrs.frozen
class VendorSpec(Generic[S]):
    """
    One integration a vendor package offers.

    Args:
        name: the integration's name: its breaker, its ``resilience.<name>`` section, its
            settings section ``<name>`` and the value that selects it (``messaging.provider``).
        port: the port it implements, a key of ``portico.ports.PORT_NAMES``.
        settings: the attrs class of its settings section.
        build: makes the raw adapter (the container wraps it in its resilience pipeline).
        policy: its default resilience policy; ``resilience.<name>`` overrides it field by field.
        summary: one line for the reference table and ``portico health``.
        aliases: other accepted section names (flat ``PORTICO_D360_API_KEY`` for 360dialog).
        webhook: its webhooks, when it sends any.
        audit: ``(settings, environment) -> [(setting, why)]``: the settings unfit for that
            environment though accepted (a test-mode key in production), for the audit report;
            never a value.
    """

    name: str
    port: str
    settings: type[S]
    build: Callable[[S, BuildContext], object]
    policy: ResiliencePolicy
    summary: str
    aliases: tuple[str, ...] = ()
    webhook: WebhookSpec[Any] | None = None
    audit: Callable[[S, str], Sequence[tuple[str, str]]] | None = None
