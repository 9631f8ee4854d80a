"""
Portico's one settings model: loaded once, validated completely, frozen.

`load_settings` merges, lowest precedence first, the defaults, a YAML file (``config_file``), the
``PORTICO_*`` environment variables (``__`` nests: ``PORTICO_OUTBOX__KIND`` is ``outbox.kind``)
and the mapping a host passes, then reads every section into a frozen attrs class. Every problem
is collected and raised at once in one `ConfigurationError`: a missing value, a value of the
wrong type or outside its choices, an unknown key or integration (with a "did you mean"), a
webhook provider without its secret, a port whose vendor lacks a setting. Nothing
configuration-related fails later, at first use.

Flat variables keep working: ``PORTICO_STRIPE_API_KEY`` is ``stripe.api_key`` because ``stripe``
is a vendor's section (``PORTICO_D360_API_KEY`` is ``360dialog.api_key`` through its alias).

Which ports are enabled: in the ``fake`` environment every port is served by its in-memory fake.
Elsewhere ``<port>.provider`` names the vendor (``PORTICO_MESSAGING__PROVIDER=twilio``) or
``none``; left unset, the port is enabled when exactly one of its vendors has settings, and off
when none has. A disabled port is not required; asking the container for it raises an error
naming how to enable it.

Stores: in the ``fake`` environment everything is kept in memory unless ``data_dir`` is set;
elsewhere SQLite files go to ``data_dir`` (default: the current folder), one set per environment.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import yaml
from attrs import AttrsInstance

from ...adapters.resilience import ResiliencePolicy
from ...adapters.spec import CHOICES, HELP, REQUIRED_UNLESS, SECRET, VendorSpec, setting
from ...domain.crm import DealStage
from ...domain.errors import ConfigurationError, InvalidValue
from ..services.relay_settings import DEFAULT_PER_KEY
from .registry import PORT_NAMES, VendorRegistry


__all__ = [
    "DEFAULTS",
    "ENVIRONMENTS",
    "ENV_PREFIX",
    "CRMSettings",
    "ConsoleSettings",
    "EmailSettings",
    "MessagingSettings",
    "OutboxSettings",
    "PaymentsSettings",
    "ServerSettings",
    "Settings",
    "SharedLimitSettings",
    "StatusStoreSettings",
    "StoreSettings",
    "VoiceSettings",
    "WebhookSettings",
    "env_config",
    "load_settings",
    "merge_layers",
    "settings_reference",
]

T = TypeVar("T", bound=AttrsInstance)
ENV_PREFIX = "PORTICO_"
ENVIRONMENTS = ("fake", "sandbox", "production")
NONE = "none"
SHARED = "shared"  # resilience.shared: not an integration
_DEAL_STAGES = tuple(stage.value for stage in DealStage)


def _choice(help: str, default: str | None, choices: tuple[str, ...]) -> Any:
    return setting(help, default=default, choices=choices)


def _redis_socket_timeout() -> Any:
    return setting(
        "seconds a Redis read or write may take before the call fails (kind redis)", default=2.0
    )


def _redis_connect_timeout() -> Any:
    return setting("seconds connecting to Redis may take (kind redis)", default=2.0)


def _check_redis_timeouts(store: Any, name: str, problems: _Problems) -> None:
    for field in ("socket_timeout", "connect_timeout"):
        if not 0 < getattr(store, field) <= 300:
            problems.add(f"{name}.{field}", "must be above 0 and at most 300 seconds")


# ---------------------------------------------------------------- the application's sections


@attrs.frozen
class StatusStoreSettings:
    """``messaging.status_store``: where WhatsApp delivery statuses are shared between processes."""

    kind: str | None = _choice(
        "store kind; memory serves one process only (default: memory in fake without data_dir, "
        "else sqlite)",
        None,
        ("memory", "sqlite", "redis"),
    )
    path: str | None = setting(
        "SQLite file (default: portico-status[.<environment>].sqlite3 in data_dir)", default=None
    )
    url: str | None = setting("Redis URL, for kind redis", default=None, secret=True)
    socket_timeout: float = _redis_socket_timeout()
    connect_timeout: float = _redis_connect_timeout()
    retention_seconds: float = setting("how long a status is kept", default=30 * 24 * 3600.0)


@attrs.frozen
class MessagingSettings:
    """``messaging``: the messaging port's vendor and the services' messaging choices."""

    provider: str | None = setting("vendor: whatsapp, 360dialog, twilio, or none", default=None)
    language: str = setting("template language code", default="en")
    link_template: str = setting(
        "approved template carrying a payment link", default="payment_link"
    )
    receipt_template: str = setting(
        "approved template carrying a receipt", default="payment_receipt"
    )


@attrs.frozen
class CRMSettings:
    """``crm``: the CRM port's vendor and the pipeline the services use."""

    provider: str | None = setting("vendor: hubspot, or none", default=None)
    pipeline: str = setting("deal pipeline", default="default")
    deal_stage: str = _choice("stage of a new deal", "open", _DEAL_STAGES)
    won_stage: str = _choice("stage of a paid deal", "won", _DEAL_STAGES)


@attrs.frozen
class PaymentsSettings:
    """``payments``: the payments port's vendor and checkout URLs."""

    provider: str | None = setting("vendor: stripe, or none", default=None)
    success_url: str = setting(
        "where checkout returns after payment", default="https://portico.invalid/paid"
    )
    cancel_url: str | None = setting("where checkout returns when abandoned", default=None)


@attrs.frozen
class VoiceSettings:
    """``voice``: the voice port's vendor and the assistant that calls."""

    provider: str | None = setting("vendor: vapi, or none", default=None)
    assistant_id: str = setting("assistant that makes follow-up calls", default="portico-follow-up")


@attrs.frozen
class EmailSettings:
    """``email``: the email port's vendor and the mailbox the services send from."""

    provider: str | None = setting("vendor: graph, or none", default=None)
    sender: str = setting(
        "mailbox the services send from (receipts)", default="receipts@clinic.example"
    )
    receipt_subject: str = setting("subject of an emailed receipt", default="Your receipt")


@attrs.frozen
class OutboxSettings:
    """``outbox``: where commands wait for the relay."""

    kind: str | None = _choice(
        "store kind; memory in fake only (default: memory in fake without data_dir, else sqlite)",
        None,
        ("memory", "sqlite", "postgres"),
    )
    path: str | None = setting(
        "SQLite file (default: portico-outbox[.<environment>].sqlite3 in data_dir)", default=None
    )
    postgres_url: str | None = setting(
        "PostgreSQL URL, for kind postgres", default=None, secret=True
    )
    table: str = setting("table name", default="portico_outbox")
    settle_delay: float = setting(
        "seconds an unknown send-now outcome waits before a retry", default=60.0
    )
    lease_seconds: float = setting("seconds a relay's claim is exclusive", default=120.0)
    per_key: int = setting(
        "consecutive commands of one ordering key (a patient's, a contact's) a relay claims at "
        "once and sends one after another; 1: one per key per claim",
        default=DEFAULT_PER_KEY,
    )
    delivered_retention: float = setting(
        "seconds a delivered command (and its idempotency key) is kept before the relay purges "
        "it; 0 keeps them for ever; dead letters stay until an operator acts",
        default=7 * 86400.0,
    )


@attrs.frozen
class ServerSettings:
    """
    ``server``: the HTTP edge of ``portico serve`` (uvicorn plus `app.entrypoints.http_protocol`).

    Every limit holds per connection, whoever the client is and before any signature is checked;
    ARCHITECTURE.md has the table of which knob guards what.
    """

    header_timeout: float = setting(
        "seconds a connection may take to send a complete request head (else closed)",
        default=10.0,
    )
    body_timeout: float = setting(
        "seconds a request may take to send its whole body once its head arrived (else 408)",
        default=10.0,
    )
    keep_alive_timeout: int = setting(
        "whole seconds an idle keep-alive connection stays open after a response", default=5
    )
    max_connections: int = setting(
        "connections served at once; a request beyond them is answered 503", default=256
    )
    backlog: int = setting("connections the kernel queues before they are accepted", default=2048)
    max_headers: int = setting("header fields in a request head (more: 431)", default=100)
    max_head_bytes: int = setting(
        "bytes of a request head, however it arrives (more: 431)", default=16384
    )
    graceful_timeout: int = setting(
        "whole seconds a shutdown waits for open requests before cancelling them", default=10
    )
    relay_grace: float = setting(
        "seconds the in-process relay may take to settle its batch at shutdown", default=10.0
    )


@attrs.frozen
class ConsoleSettings:
    """
    ``console``: the operators' web console served by the webhook app (`app.entrypoints.console`).

    It exposes actions (requeue, replay, breaker overrides), so it is off unless asked for and
    never served without a token.
    """

    enabled: bool | None = setting(
        "serve the console (default: on in `portico serve` when a token is set, off in a host)",
        default=None,
    )
    path: str = setting("path of the console below the app's root", default="/console")
    token: str | None = setting(
        "the operators' login token, at least 16 characters (required when enabled)",
        default=None,
        secret=True,
    )
    secure_cookie: str = _choice(
        "the session cookie's Secure flag; auto: when the request came over HTTPS",
        "auto",
        ("auto", "true", "false"),
    )
    session_seconds: float = setting(
        "seconds a console session lasts after login", default=8 * 3600.0
    )
    actions_path: str | None = setting(
        "SQLite file of the operator action log (default: portico-console[.<environment>]"
        ".sqlite3 in data_dir; memory in fake without data_dir)",
        default=None,
    )


@attrs.frozen
class StoreSettings:
    """``webhooks.replay`` and ``webhooks.failed_events``: a store's kind and location."""

    kind: str | None = _choice(
        "store kind (default: memory in fake without data_dir, else sqlite)",
        None,
        ("memory", "sqlite", "redis"),
    )
    path: str | None = setting("SQLite file (default: in data_dir)", default=None)
    url: str | None = setting("Redis URL, for kind redis", default=None, secret=True)
    socket_timeout: float = _redis_socket_timeout()
    connect_timeout: float = _redis_connect_timeout()


@attrs.frozen
class WebhookSettings:
    """``webhooks``: the ingress; each provider's secrets are its own subsection."""

    public_base_url: str | None = setting(
        "scheme and host the providers call (behind a proxy)", default=None
    )
    max_body: int = setting("largest accepted body, bytes (larger: 413)", default=1_048_576)
    lease_seconds: float = setting(
        "a crashed worker's event claim is retried after this", default=120.0
    )
    subscribe_services: bool = setting("subscribe Portico's services to the events", default=True)
    replay: StoreSettings = attrs.field(factory=StoreSettings, kw_only=True)
    failed_events: StoreSettings = attrs.field(factory=StoreSettings, kw_only=True)
    providers: Mapping[str, object] = attrs.field(factory=dict, kw_only=True, repr=False)


@attrs.frozen
class SharedLimitSettings:
    """
    ``resilience.shared``: the Redis where the workers' shared rate limits and circuits meet.

    An integration opts in with ``resilience.<integration>.shared_limits: true`` (and names its
    vendor account with ``account_key``); its ``rate`` and ``burst`` are then the account's.
    ``shared_breaker: true`` shares its circuit breaker's trips and half-open probes.
    """

    redis_url: str | None = setting(
        "Redis URL of the shared rate limits and circuits (required when an integration sets "
        "shared_limits or shared_breaker)",
        default=None,
        secret=True,
    )
    expected_workers: int = setting(
        "processes sharing each account; while Redis is away each limits itself to quota / this "
        "(the audit report reads it as the worker count)",
        default=1,
    )
    prefix: str = setting("key prefix of the shared quotas", default="portico:rate:")
    timeout: float = setting(
        "seconds a Redis command may take before the local fallback takes over", default=0.25
    )
    retry_interval: float = setting("seconds between tries of Redis while it is away", default=2.0)
    breaker_prefix: str = setting("key prefix of the shared circuits", default="portico:breaker:")
    breaker_interval: float = setting(
        "seconds between reads of the shared circuits: how soon a trip elsewhere is seen",
        default=0.5,
    )


@attrs.frozen
class Settings:
    """Everything Portico was configured with, validated; build it with `load_settings`."""

    environment: str
    data_dir: Path | None
    messaging: MessagingSettings
    crm: CRMSettings
    payments: PaymentsSettings
    voice: VoiceSettings
    status_store: StatusStoreSettings
    outbox: OutboxSettings
    server: ServerSettings
    webhooks: WebhookSettings
    ports: Mapping[str, str | None]
    vendors: Mapping[str, object] = attrs.field(repr=False)
    resilience: Mapping[str, ResiliencePolicy] = attrs.field(repr=False)
    registry: VendorRegistry = attrs.field(repr=False)
    shared: SharedLimitSettings = attrs.field(factory=SharedLimitSettings, repr=False)
    email: EmailSettings = attrs.field(factory=EmailSettings)
    console: ConsoleSettings = attrs.field(factory=ConsoleSettings, repr=False)

    @property
    def is_fake(self) -> bool:
        """True in the ``fake`` environment (in-memory fakes, development webhook secrets)."""
        return self.environment == "fake"

    def enabled(self, port: str) -> bool:
        """Whether ``port`` is served (by a fake or a vendor)."""
        return self.ports.get(port) is not None

    def vendor_of(self, port: str) -> VendorSpec[Any] | None:
        """The spec of the vendor serving ``port`` outside the fake environment."""
        name = self.ports.get(port)
        return None if name is None or self.is_fake else self.registry.get(name)

    def integration(self, port: str) -> str:
        """The integration name of ``port``'s pipeline and breaker (its vendor's name)."""
        return self.ports.get(port) or self.registry.default_for(port)

    def policy(self, integration: str) -> ResiliencePolicy:
        """``integration``'s resilience policy: its vendor's default, overridden by settings."""
        return self.resilience.get(integration) or ResiliencePolicy()


DEFAULTS: Mapping[str, Any] = {"environment": "fake"}

_APP_SECTIONS: Mapping[str, type] = {
    "messaging": MessagingSettings,
    "crm": CRMSettings,
    "payments": PaymentsSettings,
    "voice": VoiceSettings,
    "outbox": OutboxSettings,
    "server": ServerSettings,
    "email": EmailSettings,
    "console": ConsoleSettings,
}
_TOP_LEVEL = frozenset(
    {"environment", "data_dir", "config_file", "webhooks", "resilience", *_APP_SECTIONS}
)


# ---------------------------------------------------------------- loading


def env_config(env: Mapping[str, str], prefix: str = ENV_PREFIX) -> dict[str, Any]:
    """
    ``PORTICO_*`` variables as a nested dict: ``__`` nests, names are lower-cased.

    ``PORTICO_ENVIRONMENT=sandbox`` -> ``{"environment": "sandbox"}``;
    ``PORTICO_STRIPE__API_KEY=...`` -> ``{"stripe": {"api_key": "..."}}``.
    """
    tree: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in sorted(env.items()):
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        path = [part.lower() for part in name[len(prefix) :].split("__")]
        if any(not part for part in path):
            problems.append(f"{name}: empty segment in the variable name")
            continue
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"{name}: {part!r} is both a value and a section")
                break
            node = child
        else:
            if isinstance(node.get(path[-1]), dict):
                problems.append(f"{name}: {path[-1]!r} is both a value and a section")
            else:
                node[path[-1]] = value
    if problems:
        raise ConfigurationError(*problems)
    return tree


def _read_yaml(path: str) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError("config_file: no such YAML file") from None
    except OSError as exc:
        raise ConfigurationError(f"config_file: cannot be read ({type(exc).__name__})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # the parser's message quotes the line: it may be a secret
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigurationError(f"config_file: not valid YAML{where}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ConfigurationError("config_file: the YAML document must be a mapping")
    return loaded


def _deep_merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in layer.items():
        key = str(key).lower()
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _deep_merge(current, value)
        else:
            base[key] = _deep_merge({}, value) if isinstance(value, Mapping) else value
    return base


def merge_layers(
    config: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The configuration tree: defaults < YAML file < ``PORTICO_*`` variables < ``config``."""
    from_env = env_config(env or {})
    given = dict(config or {})
    tree = _deep_merge({}, DEFAULTS)
    config_file = given.get("config_file") or from_env.get("config_file")
    if config_file:
        _deep_merge(tree, _read_yaml(str(config_file)))
    _deep_merge(tree, from_env)
    _deep_merge(tree, given)
    return tree


class _Problems:
    """Collects every problem, so one `ConfigurationError` can name them all."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message} ({_variable(path)})")

    def unknown(self, path: str, key: str, known: Iterable[str]) -> None:
        match = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {match[0]!r}?" if match else f"; known: {', '.join(sorted(known))}"
        where = key if path == "(top level)" else f"{path}.{key}"
        self.items.append(f"{path}: unknown setting {key!r}{hint} ({_variable(where)})")


def _variable(path: str) -> str:
    return ENV_PREFIX + "__".join(part.upper() for part in path.split("."))


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _coerce(value: object, kind: Any, path: str, problems: _Problems) -> tuple[bool, object]:
    """``value`` as the field's type; (False, None) with a problem recorded when it is not."""
    optional = False
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        members = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(kind))
        kind = members[0]
    if kind is str:
        text = _as_text(value)
        if text is None and not optional:
            problems.add(path, "must not be empty")
            return False, None
        return True, text
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return True, None
        problems.add(path, "must not be empty")
        return False, None
    if kind is bool:
        if isinstance(value, bool):
            return True, value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return True, text in _TRUE
        problems.add(path, "must be true or false")
        return False, None
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.add(path, f"must be {'an integer' if kind is int else 'a number'}")
            return False, None
        try:
            number = float(value)
        except ValueError:
            problems.add(path, f"must be {'an integer' if kind is int else 'a number'}")
            return False, None
        if kind is int and not number.is_integer():
            problems.add(path, "must be an integer")
            return False, None
        if number < 0:
            problems.add(path, "must not be negative")
            return False, None
        return True, int(number) if kind is int else number
    if typing.get_origin(kind) in (Mapping, dict) or kind in (Mapping, dict):
        if not isinstance(value, Mapping):
            problems.add(path, "must be a mapping")
            return False, None
        blank = [str(k) for k, v in value.items() if _as_text(v) is None]
        for key in blank:
            problems.add(f"{path}.{key}", "must not be empty")
        return not blank, {str(k): str(v).strip() for k, v in value.items()}
    problems.add(path, f"has an unsupported type {kind!r}")  # a spec written wrongly
    return False, None


def _section_mapping(raw: object, path: str, problems: _Problems) -> Mapping[str, Any] | None:
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return raw
    problems.add(path, "must be a section (a mapping), not a value")
    return None


def load_section(
    cls: type[T],
    raw: object,
    path: str,
    problems: _Problems,
    *,
    skip: Iterable[str] = (),
    also_known: Iterable[str] = (),
) -> T | None:
    """
    Read one section into ``cls`` (a frozen attrs class of `setting` fields).

    Records every problem of the section (missing, mistyped, outside its choices, unknown keys)
    and returns None when there was any.
    """
    section = _section_mapping(raw, path, problems)
    if section is None:
        return None
    before = len(problems.items)
    hints = typing.get_type_hints(cls)
    skipped = set(skip)
    fields = {f.name: f for f in attrs.fields(cls) if f.init and f.name not in skipped}
    known = {*fields, *also_known, *skipped}
    for key in section:
        if str(key) not in known:
            problems.unknown(path, str(key), known)
    values: dict[str, object] = {}
    for name, field in fields.items():
        if name in skipped:
            continue
        where = f"{path}.{name}"
        raw_value = section.get(name)
        nested = attrs.has(hints[name]) if isinstance(hints[name], type) else False
        if nested:
            built = load_section(hints[name], raw_value, where, problems)
            if built is not None:
                values[name] = built
            continue
        if _blank(raw_value):
            unless = field.metadata.get(REQUIRED_UNLESS)
            if field.default is attrs.NOTHING:
                problems.add(where, "is required")
            elif unless is not None and _blank(section.get(unless)):
                problems.add(where, f"is required unless {path}.{unless} is given")
            continue
        ok, value = _coerce(raw_value, hints[name], where, problems)
        if not ok:
            continue
        choices = field.metadata.get(CHOICES)
        if choices and isinstance(value, str):
            value = value.lower()
            if value not in choices:
                match = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
                hint = f"; did you mean {match[0]!r}?" if match else ""
                problems.add(where, f"{value!r} is not one of {', '.join(choices)}{hint}")
                continue
        values[name] = value
    if len(problems.items) > before:
        return None
    try:
        return cls(**values)
    except InvalidValue as exc:  # a rule across fields, named by the section's validator
        named = exc.field if exc.field.startswith(f"{path}.") else f"{path}.{exc.field}"
        problems.add(named, exc.rule)
        return None
    except (ValueError, TypeError) as exc:
        problems.add(path, _safe_reason(exc))
        return None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _safe_reason(exc: BaseException) -> str:
    if isinstance(exc, InvalidValue):
        return f"{exc.field}: {exc.rule}"
    return str(exc) if isinstance(exc, ValueError) else type(exc).__name__


# ---------------------------------------------------------------- the whole model


def _unflatten(tree: dict[str, Any], registry: VendorRegistry) -> None:
    """Move flat keys (``stripe_api_key``, ``messaging_provider``) into their sections."""
    sections = {name: name for name in _APP_SECTIONS}
    for spec in registry:
        sections[spec.name] = spec.name
        for alias in spec.aliases:
            sections[alias] = spec.name
    for key in sorted(tree):
        if key in _TOP_LEVEL or key in sections:
            continue
        for prefix, section in sorted(sections.items(), key=lambda item: -len(item[0])):
            if key.startswith(prefix + "_") and len(key) > len(prefix) + 1:
                target = tree.setdefault(section, {})
                if isinstance(target, dict):
                    target.setdefault(key[len(prefix) + 1 :], tree.pop(key))
                break
    for alias, section in sections.items():
        if alias != section and isinstance(tree.get(alias), Mapping):
            target = tree.setdefault(section, {})
            if isinstance(target, dict):
                for key, value in tree.pop(alias).items():
                    target.setdefault(key, value)


def _environment(raw: object, problems: _Problems) -> str:
    name = (_as_text(raw) or "fake").lower()
    if name in ENVIRONMENTS:
        return name
    match = difflib.get_close_matches(name, ENVIRONMENTS, n=1, cutoff=0.5)
    hint = f"; did you mean {match[0]!r}?" if match else ""
    problems.add("environment", f"{name!r} is not one of {', '.join(ENVIRONMENTS)}{hint}")
    return "fake"


def _select_ports(
    tree: Mapping[str, Any],
    app_sections: Mapping[str, Any],
    environment: str,
    registry: VendorRegistry,
    problems: _Problems,
) -> dict[str, str | None]:
    """Which vendor serves each port (None: the port is off)."""
    chosen: dict[str, str | None] = {}
    for port in PORT_NAMES:
        section = app_sections.get(port)
        named = getattr(section, "provider", None)
        vendors = registry.for_port(port)
        names = [spec.name for spec in vendors]
        if named is not None:
            named = named.lower()
            if named == NONE:
                chosen[port] = None
                continue
            if named not in names:
                match = difflib.get_close_matches(named, names, n=1, cutoff=0.5)
                hint = f"; did you mean {match[0]!r}?" if match else ""
                options = ", ".join([*names, NONE])
                problems.add(f"{port}.provider", f"{named!r} is not one of {options}{hint}")
                chosen[port] = None
                continue
            chosen[port] = named
            continue
        if environment == "fake":
            chosen[port] = registry.default_for(port) if vendors else None
            continue
        configured = [spec.name for spec in vendors if tree.get(spec.name)]
        if len(configured) > 1:
            problems.add(
                f"{port}.provider",
                f"settings for {', '.join(configured)} are present: name the one to use",
            )
            chosen[port] = None
        else:
            chosen[port] = configured[0] if configured else None
    return chosen


def _resilience(
    raw: object, registry: VendorRegistry, problems: _Problems
) -> dict[str, ResiliencePolicy]:
    policies = {spec.name: spec.policy for spec in registry}
    section = _section_mapping(raw, "resilience", problems)
    if section is None:
        return policies
    for integration, overrides in section.items():
        name = str(integration)
        if name == SHARED:
            continue  # resilience.shared: read by _shared
        if name not in policies:
            problems.unknown("resilience", name, policies)
            continue
        where = f"resilience.{name}"
        mapping = _section_mapping(overrides, where, problems)
        if mapping is None:
            continue
        fields = attrs.fields_dict(ResiliencePolicy)
        clean: dict[str, object] = {}
        for key, value in mapping.items():
            if key not in fields:
                problems.unknown(where, str(key), fields)
                continue
            clean[str(key)] = value
        if not clean:
            continue
        try:
            policies[name] = policies[name].with_overrides(clean)
            continue
        except ValueError as exc:
            whole = str(exc)
        # Name the fields at fault; a rule across fields (reset_multiplier needs
        # reset_timeout_max) is judged on the whole mapping only, above.
        named = False
        for key, value in clean.items():
            try:
                policies[name].with_overrides({key: value})
            except ValueError as exc:
                reason = str(exc).partition(": ")[2] or str(exc)
                problems.add(f"{where}.{key}", reason)
                named = True
        if not named:
            problems.add(where, whole)
    return policies


def _shared(
    raw: object, policies: Mapping[str, ResiliencePolicy], problems: _Problems
) -> SharedLimitSettings | None:
    section = _section_mapping(raw, "resilience", problems)
    where = f"resilience.{SHARED}"
    shared = load_section(SharedLimitSettings, (section or {}).get(SHARED), where, problems)
    if shared is None:
        return None
    users = sorted(name for name, policy in policies.items() if policy.shared_limits)
    if users and not shared.redis_url:
        problems.add(f"{where}.redis_url", f"is required by shared_limits of {', '.join(users)}")
    breakers = sorted(name for name, policy in policies.items() if policy.shared_breaker)
    if breakers and not shared.redis_url:
        problems.add(
            f"{where}.redis_url", f"is required by shared_breaker of {', '.join(breakers)}"
        )
    if not 0 < shared.breaker_interval <= 60:
        problems.add(f"{where}.breaker_interval", "must be above 0 and at most 60 seconds")
    if shared.expected_workers < 1:
        problems.add(f"{where}.expected_workers", "must be at least 1")
    if not 0 < shared.timeout <= 10:
        problems.add(f"{where}.timeout", "must be above 0 and at most 10 seconds")
    if not shared.retry_interval > 0:
        problems.add(f"{where}.retry_interval", "must be above 0 seconds")
    return shared


def _webhooks(
    raw: object,
    environment: str,
    ports: Mapping[str, str | None],
    registry: VendorRegistry,
    problems: _Problems,
) -> WebhookSettings | None:
    section = _section_mapping(raw, "webhooks", problems)
    if section is None:
        return None
    specs = {spec.webhook.provider: spec.webhook for spec in registry if spec.webhook}
    section = {  # a bare string names a store's kind: ``replay: memory``
        key: {"kind": value}
        if key in ("replay", "failed_events") and isinstance(value, str)
        else value
        for key, value in section.items()
    }
    if "providers" in section:  # the model's own field, filled from the provider sections
        problems.unknown("webhooks", "providers", specs)
        section = {key: value for key, value in section.items() if key != "providers"}
    base = load_section(
        WebhookSettings, section, "webhooks", problems, skip=("providers",), also_known=specs
    )
    providers: dict[str, object] = {}
    dev = environment == "fake"
    development = {value for hook in specs.values() for value in hook.development.values()}
    for provider, hook in sorted(specs.items()):
        given = section.get(provider)
        if given is None and not dev:
            continue
        where = f"webhooks.{provider}"
        mapping = _section_mapping(given, where, problems)
        if mapping is None:
            continue
        values = dict(mapping)
        if dev:
            for key, value in hook.development.items():
                values.setdefault(key, value)
        else:
            leaked = [
                key
                for key, value in values.items()
                if isinstance(value, str) and value in development
            ]
            for key in leaked:
                problems.add(f"{where}.{key}", "a published development secret is refused here")
            if leaked:
                continue
        built = load_section(hook.settings, values, where, problems)
        if built is not None and getattr(built, "enabled", True) is not False:
            providers[provider] = built
    if base is None:
        return None
    return attrs.evolve(base, providers=providers)


_SERVER_SECONDS = (
    "header_timeout",
    "body_timeout",
    "keep_alive_timeout",
    "graceful_timeout",
    "relay_grace",
)


def _check_server(server: ServerSettings, problems: _Problems) -> None:
    for name in _SERVER_SECONDS:
        if not 0 < getattr(server, name) <= 3600:
            problems.add(f"server.{name}", "must be above 0 and at most 3600 seconds")
    for name in ("max_connections", "backlog", "max_headers"):
        if getattr(server, name) < 1:
            problems.add(f"server.{name}", "must be at least 1")
    if server.max_head_bytes < 1024:
        problems.add("server.max_head_bytes", "must be at least 1024 bytes")


CONSOLE_TOKEN_MIN = 16  # characters: a token an attacker cannot guess within the login limit
_RESERVED_PATHS = ("/healthz", "/readyz", "/metrics", "/webhooks")


def _check_console(console: ConsoleSettings, problems: _Problems) -> None:
    token = console.token or ""
    if console.enabled and not token:
        problems.add("console.token", "is required when console.enabled is true")
    if token and len(token) < CONSOLE_TOKEN_MIN:
        problems.add("console.token", f"must be at least {CONSOLE_TOKEN_MIN} characters")
    path = console.path
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", path):
        problems.add("console.path", "must be an absolute path like /console (no trailing /)")
    elif any(path == r or path.startswith(f"{r}/") for r in _RESERVED_PATHS):
        problems.add("console.path", f"must not be under {', '.join(_RESERVED_PATHS)}")
    if not 60 <= console.session_seconds <= 7 * 86400:
        problems.add("console.session_seconds", "must be between 60 and 604800 seconds")


def load_settings(
    config: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    registry: VendorRegistry | None = None,
) -> Settings:
    """
    Portico's settings from every layer (see the module docstring), validated completely.

    Raises:
        ConfigurationError: with every problem found, each naming its setting and variable.
    """
    registry = registry if registry is not None else VendorRegistry.builtin()
    tree = merge_layers(config, env=env)
    _unflatten(tree, registry)
    problems = _Problems()
    environment = _environment(tree.get("environment"), problems)
    vendor_names = {spec.name for spec in registry}
    for key in tree:
        if key not in _TOP_LEVEL and key not in vendor_names:
            problems.unknown("(top level)", str(key), [*_TOP_LEVEL, *vendor_names])
    data_dir_text = _as_text(tree.get("data_dir"))
    data_dir = Path(data_dir_text) if data_dir_text else None

    app_sections: dict[str, Any] = {}
    messaging_raw = tree.get("messaging")
    for name, cls in _APP_SECTIONS.items():
        skip = ("status_store",) if name == "messaging" else ()
        app_sections[name] = load_section(cls, tree.get(name), name, problems, skip=skip)
    status_raw = messaging_raw.get("status_store") if isinstance(messaging_raw, Mapping) else None
    if isinstance(status_raw, str):
        status_raw = {"kind": status_raw}
    status_store = load_section(StatusStoreSettings, status_raw, "messaging.status_store", problems)

    ports = _select_ports(tree, app_sections, environment, registry, problems)
    vendors: dict[str, object] = {}
    for selected in ports.values():
        if selected is None or environment == "fake":
            continue
        spec = registry.get(selected)
        if spec is None:
            continue
        built = load_section(spec.settings, tree.get(selected), selected, problems)
        if built is not None:
            vendors[selected] = built
    chosen = {name for name in ports.values() if name is not None and environment != "fake"}
    for spec in registry:  # a vendor's section given but not selected is still checked for typos
        if spec.name not in chosen and isinstance(tree.get(spec.name), Mapping):
            fields = {field.name for field in attrs.fields(spec.settings)}
            for key in tree[spec.name]:
                if key not in fields:
                    problems.unknown(spec.name, str(key), fields)

    outbox = app_sections.get("outbox")
    if outbox is not None:
        if outbox.kind == "postgres" and not outbox.postgres_url:
            problems.add("outbox.postgres_url", "is required when outbox.kind is postgres")
        if outbox.kind == "memory" and environment != "fake":
            problems.add("outbox.kind", "memory loses commands on restart: fake environment only")
        if not 0 < outbox.lease_seconds <= 86400:
            problems.add("outbox.lease_seconds", "must be above 0 and at most 86400 seconds")
        if not 1 <= outbox.per_key <= 1000:
            problems.add("outbox.per_key", "must be a whole number from 1 to 1000")
        if outbox.delivered_retention < 0:
            problems.add("outbox.delivered_retention", "must be 0 (keep) or a number of seconds")
        if outbox.settle_delay > 86400:
            problems.add("outbox.settle_delay", "must be at most 86400 seconds")
    server = app_sections.get("server")
    if server is not None:
        _check_server(server, problems)
    console = app_sections.get("console")
    if console is not None:
        _check_console(console, problems)
    if status_store is not None and status_store.kind == "redis" and not status_store.url:
        problems.add("messaging.status_store.url", "is required when the kind is redis")
    if status_store is not None:
        _check_redis_timeouts(status_store, "messaging.status_store", problems)
    resilience = _resilience(tree.get("resilience"), registry, problems)
    shared = _shared(tree.get("resilience"), resilience, problems)
    webhooks = _webhooks(tree.get("webhooks"), environment, ports, registry, problems)
    if webhooks is not None:
        for store_name in ("replay", "failed_events"):
            store = getattr(webhooks, store_name)
            if store.kind == "redis" and not store.url:
                problems.add(f"webhooks.{store_name}.url", "is required when the kind is redis")
            _check_redis_timeouts(store, f"webhooks.{store_name}", problems)
        if webhooks.failed_events.kind == "redis":
            problems.add("webhooks.failed_events.kind", "must be memory or sqlite")
        if webhooks.max_body < 1:
            problems.add("webhooks.max_body", "must be at least 1 byte")
        if not 0 < webhooks.lease_seconds <= 86400:
            problems.add("webhooks.lease_seconds", "must be above 0 and at most 86400 seconds")
    serves_webhooks = webhooks is not None and bool(webhooks.providers)
    nothing = environment != "fake" and not any(ports.values()) and not serves_webhooks
    if nothing and not problems.items:
        problems.items.append(
            f"environment {environment!r} enables no port and no webhook provider: configure "
            "a vendor (e.g. PORTICO_STRIPE__API_KEY, or PORTICO_PAYMENTS__PROVIDER=stripe) "
            "or a webhook provider's secret (e.g. PORTICO_WEBHOOKS__STRIPE__SECRET)"
        )
    if problems.items:
        raise ConfigurationError(*problems.items)
    assert webhooks is not None
    assert status_store is not None
    assert shared is not None
    return Settings(
        environment=environment,
        data_dir=data_dir,
        messaging=app_sections["messaging"],
        crm=app_sections["crm"],
        payments=app_sections["payments"],
        voice=app_sections["voice"],
        status_store=status_store,
        outbox=app_sections["outbox"],
        server=app_sections["server"],
        webhooks=webhooks,
        ports=ports,
        vendors=vendors,
        resilience=resilience,
        registry=registry,
        shared=shared,
        email=app_sections["email"],
        console=app_sections["console"],
    )


# ---------------------------------------------------------------- the reference table


def _rows(cls: type, path: str) -> list[tuple[str, str, str]]:
    hints = typing.get_type_hints(cls)
    rows: list[tuple[str, str, str]] = []
    for field in attrs.fields(cls):
        if not field.init or field.name == "providers":
            continue
        where = f"{path}.{field.name}" if path else field.name
        kind = hints[field.name]
        if isinstance(kind, type) and attrs.has(kind):
            rows.extend(_rows(kind, where))
            continue
        if HELP not in field.metadata:
            continue
        if field.default is attrs.NOTHING:
            default = "**required**"
        elif field.metadata.get(REQUIRED_UNLESS):
            default = f"**required** without `{field.metadata[REQUIRED_UNLESS]}`"
        elif (
            field.metadata.get(SECRET)
            or field.default is None
            or hasattr(field.default, "factory")  # an attrs.Factory
        ):
            default = ""
        else:
            default = f"`{field.default}`" if field.default != {} else ""
        rows.append((f"`{_variable(where)}`", default, str(field.metadata[HELP])))
    return rows


def settings_reference(registry: VendorRegistry | None = None) -> str:
    """Every setting as one Markdown table: variable, default, meaning (README's reference)."""
    registry = registry if registry is not None else VendorRegistry.builtin()
    rows: list[tuple[str, str, str]] = [
        ("`PORTICO_ENVIRONMENT`", "`fake`", "fake (in-memory fakes), sandbox or production"),
        (
            "`PORTICO_DATA_DIR`",
            "",
            "folder of the SQLite stores (fake: memory unless set; else `.`)",
        ),
        ("`PORTICO_CONFIG_FILE`", "", "a YAML file with the same tree (lower precedence)"),
    ]
    for name, cls in _APP_SECTIONS.items():
        rows.extend(_rows(cls, name))
        if name == "messaging":
            rows.extend(_rows(StatusStoreSettings, "messaging.status_store"))
    rows.extend(_rows(WebhookSettings, "webhooks"))
    for spec in registry:
        rows.extend(_rows(spec.settings, spec.name))
        if spec.webhook is not None:
            rows.extend(_rows(spec.webhook.settings, f"webhooks.{spec.webhook.provider}"))
    rows.extend(_rows(SharedLimitSettings, f"resilience.{SHARED}"))
    rows.append(
        (
            "`PORTICO_RESILIENCE__<INTEGRATION>__<FIELD>`",
            "per vendor",
            "one field of an integration's resilience policy (`portico health` lists them)",
        )
    )
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines.extend(
        f"| {variable} | {default} | {meaning.replace('|', '/')} |"
        for variable, default, meaning in rows
    )
    return "\n".join(lines) + "\n"
