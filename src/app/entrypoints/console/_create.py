"""`create_console`: the console over a container's stores, breakers and ingress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...services.audit_report import build_audit_report
from ...services.operator_actions import OperatorActions
from ..webhook_counters import WebhookHealth
from ._app import ConsoleApp, ReportSource


if TYPE_CHECKING:
    from ....ports.outbox import Outbox
    from ...services.webhook_ingress import WebhookIngress
    from ...wiring.container import Container


__all__ = ["console_wanted", "create_console"]


def console_wanted(container: Container, *, default: bool) -> bool:
    """
    Whether to serve the console: ``console.enabled`` when set, else ``default`` when a token
    is configured (``portico serve`` passes True, a host False).
    """
    settings = container.settings().console
    if settings.enabled is not None:
        return settings.enabled
    return default and bool(settings.token)


def create_console(
    container: Container,
    *,
    ingress: WebhookIngress | None = None,
    outbox: Outbox | None = None,
    https: bool | None = None,
) -> ConsoleApp:
    """
    The console over ``container``'s stores and breakers.

    Args:
        container: the application's container (settings, stores, breakers).
        ingress: the ingress whose failed events are replayed; the container's by default.
        outbox: the outbox shown and requeued; the container's by default.
        https: whether the console is reached over HTTPS (the cookie's ``Secure`` flag when
            ``console.secure_cookie`` is auto); by default, when ``webhooks.public_base_url``
            is an https URL.

    Raises:
        ValueError: no ``console.token`` is configured.
    """
    settings = container.settings()
    ingress = ingress if ingress is not None else container.webhook_ingress()
    outbox = outbox if outbox is not None else container.outbox()
    breaker_store = container.breaker_control_store()
    control = container.breaker_control()
    action_log = container.operator_action_log()
    clock = container.clock()
    if https is None:
        https = (settings.webhooks.public_base_url or "").startswith("https://")
    actions = OperatorActions(
        log=action_log,
        outbox=outbox,
        ingress=ingress,
        breaker_store=breaker_store,
        integrations=tuple(settings.resilience),
        clock=clock,
    )
    return ConsoleApp(
        settings.console,
        environment=settings.environment,
        actions=actions,
        action_log=action_log,
        outbox=outbox,
        failed_log=ingress.failed_log,
        breakers=container.breakers(),
        breaker_store=breaker_store,
        refresh_breakers=control.refresh,
        report=_report_source(container, ingress),
        https=https,
        clock=clock,
    )


def _report_source(container: Container, ingress: WebhookIngress) -> ReportSource:
    """The audit report of this process: its breakers, outbox and webhook counters, now."""

    async def report() -> Mapping[str, Any]:
        built = await build_audit_report(container, webhook_health=WebhookHealth.of(ingress))
        return built.to_json()

    return report
