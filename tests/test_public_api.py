"""Every package's public surface is exactly its ``__all__``, and the distribution is typed."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import pkgutil
import types

import pytest

import portico


# What a host imports every day, pinned: a change here is a change of Portico's public API.
FRONT_DOOR = [
    "AuthenticationFailed",
    "BulkheadFull",
    "CRMPort",
    "CallEnded",
    "CallStatusChanged",
    "CheckoutCompleted",
    "CheckoutPaymentSettled",
    "CircuitOpenError",
    "ConfigurationError",
    "Conflict",
    "ContactChanged",
    "Container",
    "DomainEvent",
    "Email",
    "IdempotencyKey",
    "IntegrationError",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidValue",
    "Lifespan",
    "LocalRejection",
    "MalformedWebhook",
    "MessageReceived",
    "MessageStatusChanged",
    "MessagingErrorReported",
    "MessagingPort",
    "Money",
    "NetworkError",
    "NotFound",
    "OutcomeUnknown",
    "PayloadTooLarge",
    "PaymentFailed",
    "PaymentPort",
    "PaymentSucceeded",
    "PermanentError",
    "PermissionDenied",
    "PhoneNumber",
    "PorticoError",
    "RateLimitExceeded",
    "RateLimited",
    "RefundIssued",
    "RetryExhaustedError",
    "StaleTimestamp",
    "TimedOut",
    "TokenRefreshFailed",
    "TransientError",
    "Unavailable",
    "UnexpectedResponse",
    "VoicePort",
    "WebhookApp",
    "WebhookRejected",
    "create_container",
    "create_webhook_app",
    "lifespan",
]


def _packages() -> list[str]:
    found = ["portico"]
    found.extend(
        info.name
        for info in pkgutil.walk_packages(portico.__path__, prefix="portico.")
        if info.ispkg
    )
    return found


def test_the_front_door_is_pinned_and_sorted() -> None:
    """`from portico import ...` offers exactly the everyday names, in sorted order."""
    assert portico.__all__ == sorted(portico.__all__)
    assert portico.__all__ == FRONT_DOOR


def test_everything_is_one_portico_namespace() -> None:
    """The four layers are subpackages of portico; none is a top-level package of its own."""
    for layer in ("domain", "ports", "adapters", "app"):
        assert importlib.import_module(f"portico.{layer}").__name__ == f"portico.{layer}"


@pytest.mark.parametrize("name", _packages())
def test_all_lists_exactly_the_public_names(name: str) -> None:
    """A package with __all__ exports every public name it binds, and only names that exist."""
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    if exported is None:
        public = [
            attr
            for attr, value in vars(package).items()
            if not attr.startswith("_")
            and not isinstance(value, types.ModuleType)
            and getattr(value, "__module__", name).startswith(name)
            and attr not in {"annotations"}
        ]
        assert public == [], f"{name} binds public names without an __all__: {public}"
        return
    for attr in exported:
        assert hasattr(package, attr), f"{name}.__all__ names {attr!r}, which does not exist"
    bound = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        and attr != "annotations"
    }
    assert bound <= set(exported), f"{name} binds public names missing from __all__"
    assert len(exported) == len(set(exported))


def test_the_package_ships_py_typed() -> None:
    """Type checkers see the inline types of the whole package (PEP 561)."""
    assert importlib.resources.files("portico").joinpath("py.typed").is_file()


def test_the_console_script_is_installed() -> None:
    """`portico` is an entry point of the installed distribution."""
    scripts = importlib.metadata.entry_points(group="console_scripts")
    assert any(
        ep.name == "portico" and ep.value == "portico.app.entrypoints.cli:main" for ep in scripts
    )
