"""
The console's ASGI application: routing, login, pages and actions (see the package docstring).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2

from ....adapters.resilience import BreakerRegistry
from ....domain.time import SYSTEM_CLOCK, Clock
from ....ports.breaker_control import BreakerControlStore
from ....ports.failed_events import FailedEventLog
from ....ports.operator_actions import OperatorActionLog
from ....ports.outbox import Outbox
from ...services.operator_actions import OperatorActions
from ...wiring.settings import ConsoleSettings
from . import _pages
from ._security import (
    COOKIE,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SECURITY_HEADERS,
    LoginLimiter,
    Session,
    Sessions,
    fingerprint,
    same_secret,
)


__all__ = ["ConsoleApp"]

Scope = Mapping[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ReportSource = Callable[[], Awaitable[Mapping[str, Any]]]

logger = logging.getLogger("portico.console")
_HERE = Path(__file__).parent
_MAX_FORM = 16 * 1024  # bytes of a form body; every console form is a few hundred
_NAV = (
    ("/", "Audit report"),
    ("/outbox", "Outbox"),
    ("/webhooks", "Failed webhooks"),
    ("/breakers", "Breakers"),
    ("/actions", "Action log"),
)
_TITLES = dict(_NAV)
_REPORT_SECTIONS = (
    ("clients", "Client status"),
    ("resilience", "Resilience configuration"),
    ("webhooks", "Webhook security"),
    ("outbox", "Outbox"),
)
_OPERATOR_LABEL = re.compile(r"[^A-Za-z0-9 ._-]")  # no '@': a label is never an email
_LIST_LIMIT = 50


class _Response:
    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = b"text/html; charset=utf-8",
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


class ConsoleApp:
    """
    The console below ``base`` (the app's root path plus ``settings.path``); build it with
    `app.entrypoints.console.create_console`.
    """

    def __init__(
        self,
        settings: ConsoleSettings,
        *,
        environment: str,
        actions: OperatorActions,
        action_log: OperatorActionLog,
        outbox: Outbox | None,
        failed_log: FailedEventLog | None,
        breakers: BreakerRegistry,
        breaker_store: BreakerControlStore | None,
        refresh_breakers: Callable[[], None] | None = None,
        report: ReportSource | None = None,
        https: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not settings.token:
            raise ValueError("console.token: the console is never served without a token")
        self.settings = settings
        self.path = settings.path.rstrip("/")
        self.environment = environment
        self.actions = actions
        self.action_log = action_log
        self.outbox = outbox
        self.failed_log = failed_log
        self.breakers = breakers
        self.breaker_store = breaker_store
        self.refresh_breakers = refresh_breakers
        self.report = report
        self.https = https
        self.clock = clock
        self.sessions = Sessions(settings.session_seconds)
        self.limiter = LoginLimiter()
        self._token = settings.token
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._css = (_HERE / "static" / "console.css").read_bytes()

    def __repr__(self) -> str:
        return f"<ConsoleApp path={self.path!r} sessions={len(self.sessions)}>"

    def serves(self, path: str) -> bool:
        """Whether ``path`` (below the app's mount point) is the console's."""
        return path == self.path or path.startswith(f"{self.path}/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Answer one HTTP request for ``path`` (below the mount point, inside `serves`)."""
        base = str(scope.get("root_path", "")).rstrip("/") + self.path
        method = str(scope.get("method", "GET")).upper()
        route = path[len(self.path) :] or ""
        response = await self._route(scope, receive, method, route, base)
        await _send(send, response)

    # ---------------------------------------------------------------- routing

    async def _route(
        self, scope: Scope, receive: Receive, method: str, route: str, base: str
    ) -> _Response:
        if route == "":
            return _redirect(f"{base}/")
        if route == "/static/console.css":
            if method not in {"GET", "HEAD"}:
                return _plain(405, "method not allowed")
            return _Response(200, self._css, b"text/css; charset=utf-8")
        cookies = _cookies(scope)
        if route == "/login":
            if method == "POST":
                return await self._login(scope, receive, cookies, base)
            if method in {"GET", "HEAD"}:
                return self._login_page(scope, 200, base, "")
            return _plain(405, "method not allowed")
        session = self.sessions.get(cookies.get(COOKIE))
        if session is None:
            # Nothing about the console, its routes or its data before the token: a login form.
            if method in {"GET", "HEAD"}:
                return self._login_page(scope, 401, base, "")
            return _plain(401, "unauthorized")
        if method == "POST":
            form = await _form(scope, receive)
            if form is None or not same_secret(form.get("csrf", ""), session.csrf):
                logger.warning("console: POST %s refused: missing or wrong CSRF token", route)
                return _plain(403, "forbidden: missing or invalid CSRF token")
            if not _same_origin(scope):
                logger.warning("console: POST %s refused: cross-origin", route)
                return _plain(403, "forbidden: cross-origin request")
            return await self._action(scope, route, form, session, base)
        if method not in {"GET", "HEAD"}:
            return _plain(405, "method not allowed")
        page = {
            "/": self._report_page,
            "/outbox": self._outbox_page,
            "/webhooks": self._webhooks_page,
            "/breakers": self._breakers_page,
            "/actions": self._actions_page,
        }.get(route)
        if page is None:
            return self._page(404, "error.html", "Not found", base, session, message="no such page")
        return await page(base, session, route)

    # ---------------------------------------------------------------- login

    def _login_page(self, scope: Scope, status: int, base: str, problem: str) -> _Response:
        form_id, csrf = self.sessions.login_form()
        cookie = _cookie(
            LOGIN_COOKIE, form_id, base, secure=self._secure(scope), max_age=int(LOGIN_FORM_SECONDS)
        )
        body = self._render(
            "login.html", "Log in", base, None, "", problem=problem, login_csrf=csrf
        )
        return _Response(status, body, headers=((b"set-cookie", cookie),))

    async def _login(
        self, scope: Scope, receive: Receive, cookies: Mapping[str, str], base: str
    ) -> _Response:
        client = _client(scope)
        form = await _form(scope, receive)
        if form is None or not self.sessions.take_login_form(
            cookies.get(LOGIN_COOKIE), form.get("csrf", "")
        ):
            return self._login_page(
                scope, 403, base, "That login form expired or was not ours: try again."
            )
        if not self.limiter.allowed(client):
            logger.warning("console: login refused: too many failed attempts")
            return self._login_page(
                scope, 429, base, "Too many failed attempts: wait a few minutes."
            )
        if not same_secret(form.get("token", ""), self._token or ""):
            self.limiter.failed(client)
            logger.warning("console: failed login")
            return self._login_page(scope, 401, base, "That token is not right.")
        label = _OPERATOR_LABEL.sub("", form.get("operator", "")).strip()[:40] or "operator"
        session = self.sessions.create(f"{label} (token {fingerprint(self._token or '')})")
        await self.actions.session(session.operator, "login")
        cookie = _cookie(
            COOKIE,
            session.id,
            base,
            secure=self._secure(scope),
            max_age=int(self.sessions.lifetime),
        )
        gone = _cookie(LOGIN_COOKIE, "", base, secure=self._secure(scope), max_age=0)
        return _redirect(f"{base}/", ((b"set-cookie", cookie), (b"set-cookie", gone)))

    def _secure(self, scope: Scope) -> bool:
        """The cookie's Secure flag: as configured, or (auto) when served over HTTPS."""
        mode = self.settings.secure_cookie
        over_https = self.https or scope.get("scheme") == "https"
        return mode == "true" or (mode == "auto" and over_https)

    # ---------------------------------------------------------------- actions

    async def _action(
        self, scope: Scope, route: str, form: Mapping[str, str], session: Session, base: str
    ) -> _Response:
        who = session.operator
        if route == "/logout":
            self.sessions.end(session.id)
            await self.actions.session(who, "logout")
            cookie = _cookie(COOKIE, "", base, secure=self._secure(scope), max_age=0)
            return _redirect(f"{base}/login", ((b"set-cookie", cookie),))
        target = form.get("id", "").strip()
        integration = form.get("integration", "").strip()
        if route == "/outbox/requeue":
            record = await self.actions.requeue(who, target, force=form.get("force") == "1")
            back = "/outbox"
        elif route == "/webhooks/replay":
            record = await self.actions.replay(who, target)
            back = "/webhooks"
        elif route == "/webhooks/resolve":
            record = await self.actions.resolve(who, target)
            back = "/webhooks"
        elif route == "/breakers/force":
            minutes = _number(form.get("minutes", ""))
            seconds = -1.0 if minutes is None else minutes * 60
            mode = form.get("mode", "")
            record = await self.actions.force_breaker(who, integration, mode, seconds)
            back = "/breakers"
        elif route == "/breakers/release":
            record = await self.actions.release_breaker(who, integration)
            back = "/breakers"
        else:
            return self._page(
                404, "error.html", "Not found", base, session, message="no such action"
            )
        if back == "/breakers" and self.refresh_breakers is not None:
            self.refresh_breakers()  # this process's breakers show the override at once
        verdict = "done" if record.ok else "not done"
        session.flash = (record.ok, f"{record.action} {record.target}: {verdict}: {record.result}")
        return _redirect(f"{base}{back}")

    # ---------------------------------------------------------------- pages

    async def _report_page(self, base: str, session: Session, route: str) -> _Response:
        report: Mapping[str, Any] | None = None
        problem = ""
        if self.report is None:
            problem = "no audit report source in this app"
        else:
            try:
                report = json.loads(json.dumps(await self.report(), default=str))
            except Exception as exc:  # noqa: BLE001 - the page says so, the others still work
                logger.error("console: audit report failed (%s)", type(exc).__name__)
                problem = type(exc).__name__
        return self._page(
            200,
            "report.html",
            _TITLES[route],
            base,
            session,
            route,
            report=report,
            report_problem=problem,
            sections=_REPORT_SECTIONS,
        )

    async def _outbox_page(self, base: str, session: Session, route: str) -> _Response:
        backlog: list[dict[str, object]] = []
        letters: list[dict[str, object]] = []
        problem = ""
        if self.outbox is None:
            problem = "no outbox configured"
        else:
            try:
                backlog = _pages.backlog_rows(await self.outbox.status())
                dead = await self.outbox.dead_letters(limit=_LIST_LIMIT)
                letters = _pages.letter_rows(dead)
            except Exception as exc:  # noqa: BLE001 - an unreadable store is a line on the page
                problem = f"the outbox cannot be read ({type(exc).__name__})"
        return self._page(
            200,
            "outbox.html",
            _TITLES[route],
            base,
            session,
            route,
            backlog=backlog,
            letters=letters,
            problem=problem,
        )

    async def _webhooks_page(self, base: str, session: Session, route: str) -> _Response:
        events: list[dict[str, object]] = []
        problem = ""
        if self.failed_log is None:
            problem = "no failed-event log configured"
        else:
            try:
                events = _pages.event_rows(await self.failed_log.list(_LIST_LIMIT))
            except Exception as exc:  # noqa: BLE001 - an unreadable store is a line on the page
                problem = f"the failed-event log cannot be read ({type(exc).__name__})"
        return self._page(
            200, "webhooks.html", _TITLES[route], base, session, route, events=events,
            problem=problem,
        )  # fmt: skip

    async def _breakers_page(self, base: str, session: Session, route: str) -> _Response:
        problem = ""
        overrides = {}
        if self.refresh_breakers is not None:
            self.refresh_breakers()
        if self.breaker_store is not None:
            try:
                overrides = dict(self.breaker_store.read())
            except Exception as exc:  # noqa: BLE001 - an unreadable store is a line on the page
                problem = f"the breaker-control store cannot be read ({type(exc).__name__})"
        rows = _pages.breaker_rows(self.breakers, overrides, self.clock.now().timestamp())
        return self._page(
            200, "breakers.html", _TITLES[route], base, session, route, breakers=rows,
            problem=problem,
        )  # fmt: skip

    async def _actions_page(self, base: str, session: Session, route: str) -> _Response:
        problem = ""
        rows: list[dict[str, object]] = []
        try:
            rows = _pages.action_rows(await self.action_log.recent(_LIST_LIMIT))
        except Exception as exc:  # noqa: BLE001 - an unreadable store is a line on the page
            problem = f"the action log cannot be read ({type(exc).__name__})"
        return self._page(
            200, "actions.html", _TITLES[route], base, session, route, actions=rows,
            problem=problem,
        )  # fmt: skip

    def _page(
        self,
        status: int,
        template: str,
        title: str,
        base: str,
        session: Session,
        route: str = "",
        **values: object,
    ) -> _Response:
        flash, session.flash = session.flash, None
        body = self._render(template, title, base, session, route, flash=flash, **values)
        return _Response(status, body)

    def _render(
        self,
        template: str,
        title: str,
        base: str,
        session: Session | None,
        route: str,
        **values: object,
    ) -> bytes:
        values.setdefault("flash", None)
        text = self._templates.get_template(template).render(
            title=title,
            base=base,
            session=session,
            nav=_NAV,
            here=route,
            now=_pages.when(time.time()),
            environment=self.environment,
            **values,
        )
        return text.encode("utf-8")


# -------------------------------------------------------------------- HTTP helpers


def _cookies(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name.lower() != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, val = part.strip().partition("=")
            if key and key not in found:
                found[key] = val
    return found


def _cookie(name: str, value: str, path: str, *, secure: bool, max_age: int) -> bytes:
    """A session cookie: HttpOnly, SameSite=Strict, scoped to the console's path."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def _same_origin(scope: Scope) -> bool:
    """
    False when the browser says the form came from another origin (its Origin header). Under
    ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` even for the console's own
    forms, so "null" and no header say nothing: the CSRF token and SameSite=Strict decide.
    """
    origin = _header(scope, b"origin")
    if origin is None or origin == "null":
        return True
    host = _header(scope, b"host")
    return host is not None and origin.split("://", 1)[-1] == host


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


async def _form(scope: Scope, receive: Receive) -> dict[str, str] | None:
    """The url-encoded form (first value of each field), or None when too large or unreadable."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > _MAX_FORM:
            return None
        if not message.get("more_body", False):
            break
    kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {key: values[0] for key, values in fields.items()}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _plain(status: int, text: str) -> _Response:
    return _Response(status, text.encode("utf-8"), b"text/plain; charset=utf-8")


def _redirect(location: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> _Response:
    return _Response(
        303,
        b"",
        b"text/plain; charset=utf-8",
        ((b"location", location.encode("latin-1")), *headers),
    )


async def _send(send: Send, response: _Response) -> None:
    headers = [
        (b"content-type", response.content_type),
        (b"content-length", str(len(response.body)).encode("ascii")),
        *SECURITY_HEADERS,
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
