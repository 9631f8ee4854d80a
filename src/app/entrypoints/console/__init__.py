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

from ._app import ConsoleApp
from ._create import console_wanted, create_console


__all__ = ["ConsoleApp", "console_wanted", "create_console"]
