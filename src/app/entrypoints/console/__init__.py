"""
The operators' web console: a few server-rendered pages under ``console.path`` (default
``/console``) of the webhook app, showing what an on-call person needs and letting them act.

Pages: the Integrations Audit Report (`app.services.audit_report`), the outbox (pending per
integration, oldest age, dead letters with the vendor's reason), the failed webhook events, the
circuit breakers, and the action log. Actions: requeue a dead letter (a "maybe sent" one only when
forced, as ``portico outbox requeue``), replay or resolve a failed webhook event, force a breaker
open or closed for some minutes or release it (``portico breaker``'s store, so every process
follows). Every action is recorded with who, when, what and the result
(`app.services.operator_actions`), and listed.

Security (`._security`): a token login (constant-time), a random server-side session in an
``HttpOnly; SameSite=Strict`` cookie (``Secure`` over HTTPS), a CSRF token on every form, a strict
Content-Security-Policy (no script at all: the pages need none), ``nosniff``, no referrer, no
caching. Without a session every route answers 401 with the login form and nothing else. Pages
never show a secret, a payload, a delivery's body, a full phone number or an email.

It is served by `app.entrypoints.asgi.WebhookApp` when built with ``console=``; ``portico serve``
does so when ``console.token`` is set (unless ``console.enabled`` is false). Replays run in the
serving process, through the same ingress and adapters that serve the webhooks.
"""

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


__all__ = ["ConsoleApp", "console_wanted", "create_console"]


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
