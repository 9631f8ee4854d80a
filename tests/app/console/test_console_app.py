"""
The operators' console over httpx's ASGI transport: login, cookie flags, CSRF refusal, headers,
masking, and each action recorded in the action log (fake environment, real stores).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from portico.adapters.webhooks.signers import sign_stripe
from portico.app.entrypoints.asgi import STANDALONE_PREFIX, WebhookApp, create_webhook_app
from portico.app.entrypoints.console import console_wanted, create_console
from portico.app.wiring.container import Container, create_container
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.commands import SendMessage
from portico.domain.errors import ConfigurationError, InvalidValue
from portico.domain.events import RefundIssued
from portico.domain.messaging import TextMessage
from portico.domain.operator_actions import OperatorAction


TOKEN = "console-test-token-0123456789"
PATIENT = "+40712345678"
BASE = "http://portico.test"
FAILED_ID = "stripe:refund:re_console_1"  # the failed-event record's id: provider and event id


def _container(tmp_path: Any, **console: Any) -> Container:
    config = {
        "environment": "fake",
        "data_dir": str(tmp_path),
        "webhooks": {"subscribe_services": False},
        "console": {"token": TOKEN, **console},
    }
    return create_container(config, env={})


def _app(container: Container, *, https: bool = False) -> WebhookApp:
    ingress = container.webhook_ingress()
    console = create_console(container, ingress=ingress, https=https)
    return create_webhook_app(ingress, prefix=STANDALONE_PREFIX, console=console)


@pytest.fixture(name="container")
def _container_fixture(tmp_path: Any) -> Container:
    """A fake-environment container with the console's token and stores in tmp_path."""
    return _container(tmp_path)


@pytest.fixture(name="client")
async def _client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the webhook app with the console, not logged in."""
    transport = httpx.ASGITransport(app=_app(container))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


async def _login(
    client: httpx.AsyncClient, token: str = TOKEN, name: str = "Ana"
) -> httpx.Response:
    form = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"csrf": _csrf(form.text), "token": token, "operator": name},
    )


async def _acts(container: Container) -> list[OperatorAction]:
    """The recorded actions, newest first, without the logins and logouts."""
    recent = await container.operator_action_log().recent()
    return [a for a in recent if a.action not in {"login", "logout"}]


async def _csrf_of(client: httpx.AsyncClient, page: str) -> str:
    return _csrf((await client.get(page)).text)


class TestAuthentication:
    """The token login and what an unauthenticated client sees."""

    @pytest.mark.parametrize(
        "path", ["/console/", "/console/outbox", "/console/breakers", "/console/nope"]
    )
    async def test_unauthenticated_pages_get_401_and_only_a_login_form(self, client, path):
        """Every console route answers 401 with the login form, nothing about the data."""
        answer = await client.get(path)
        assert answer.status_code == 401
        assert 'name="token"' in answer.text
        assert "Dead letters" not in answer.text
        assert "breaker" not in answer.text.lower()

    async def test_unauthenticated_actions_get_401(self, client):
        """A POST action without a session is 401, whatever it carries."""
        answer = await client.post("/console/outbox/requeue", data={"id": "x", "csrf": "y"})
        assert answer.status_code == 401
        assert answer.text == "unauthorized"

    async def test_a_wrong_token_is_refused_and_the_right_one_logs_in(self, client):
        """A wrong token gets 401 and no session; the right one a session and a redirect."""
        wrong = await _login(client, token="not-the-token-at-all")
        assert wrong.status_code == 401
        assert "portico_console=" not in wrong.headers.get("set-cookie", "")
        right = await _login(client)
        assert right.status_code == 303
        assert right.headers["location"] == "/console/"
        page = await client.get("/console/outbox")
        assert page.status_code == 200
        assert "Ana (token " in page.text

    async def test_login_without_its_csrf_token_is_refused(self, client):
        """A login POST that did not come from the console's own form is 403."""
        answer = await client.post("/console/login", data={"token": TOKEN})
        assert answer.status_code == 403
        assert "portico_console=" not in answer.headers.get("set-cookie", "")
        assert 'name="token"' in answer.text  # a fresh form to try again

    async def test_mounted_below_a_host_path_every_link_and_cookie_follows(self, container):
        """Mounted at /ops (root_path), forms post to /ops/console/... and cookies say so."""
        transport = httpx.ASGITransport(app=_app(container), root_path="/ops")
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            form = await client.get("/ops/console/login")
            assert 'action="/ops/console/login"' in form.text
            assert 'href="/ops/console/static/console.css"' in form.text
            answer = await client.post(
                "/ops/console/login", data={"csrf": _csrf(form.text), "token": TOKEN}
            )
            assert answer.headers["location"] == "/ops/console/"
            assert "Path=/ops/console" in answer.headers["set-cookie"]
            assert (await client.get("/ops/console/outbox")).status_code == 200

    async def test_failed_logins_are_rate_limited(self, client):
        """After five wrong tokens from one client even the right one waits (429)."""
        for _ in range(5):
            assert (await _login(client, token="wrong-token-xxxxxxxx")).status_code == 401
        limited = await _login(client)
        assert limited.status_code == 429
        assert "portico_console=" not in limited.headers.get("set-cookie", "")

    async def test_logout_ends_the_session(self, client):
        """After logout the old cookie opens nothing."""
        await _login(client)
        cookie = client.cookies.get("portico_console")
        csrf = await _csrf_of(client, "/console/outbox")
        assert (await client.post("/console/logout", data={"csrf": csrf})).status_code == 303
        client.cookies.set("portico_console", cookie or "")
        assert (await client.get("/console/outbox")).status_code == 401

    async def test_logins_and_logouts_are_in_the_action_log(self, client, container):
        """Who came and went is recorded; a failed login is not a session and is not listed."""
        await _login(client, token="wrong-token-xxxxxxxx")
        await _login(client, name="Ana <script>@x")
        csrf = await _csrf_of(client, "/console/outbox")
        await client.post("/console/logout", data={"csrf": csrf})
        logout, login = await container.operator_action_log().recent()
        assert (login.action, logout.action) == ("login", "logout")
        assert login.operator.startswith("Ana script")  # no markup, no '@' (never an email)

    async def test_an_expired_session_is_401(self, container):
        """A session past ``console.session_seconds`` is forgotten."""
        app = _app(container)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            await _login(client)
            assert app.console is not None
            for session in app.console.sessions._items.values():
                session.expires = time.monotonic() - 1
            assert (await client.get("/console/outbox")).status_code == 401


class TestHeaders:
    """Cookie flags and the security headers on every answer."""

    async def test_session_cookie_is_httponly_strict_and_path_scoped(self, client):
        """The session cookie: HttpOnly, SameSite=Strict, Path=/console; no Secure over HTTP."""
        answer = await _login(client)
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("portico_console=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/console" in cookie
        assert "Secure" not in cookie

    @pytest.mark.parametrize(
        ("https", "url"), [(False, "https://portico.test"), (True, "http://portico.test")]
    )
    async def test_secure_cookie_over_https(self, container, https, url):
        """Auto: Secure when the request came over HTTPS or the public base URL is https."""
        transport = httpx.ASGITransport(app=_app(container, https=https))
        async with httpx.AsyncClient(transport=transport, base_url=url) as client:
            form = await client.get("/console/login")
            # httpx keeps a Secure cookie from a plain-HTTP origin to itself: hand it back.
            client.cookies.set("portico_console_login", form.cookies["portico_console_login"])
            answer = await client.post(
                "/console/login", data={"csrf": _csrf(form.text), "token": TOKEN}
            )
        session = [c for c in answer.headers.get_list("set-cookie") if "portico_console=" in c]
        assert session
        assert "Secure" in session[0]

    async def test_secure_cookie_forced_by_setting(self, tmp_path):
        """``console.secure_cookie: true`` sets Secure even over plain HTTP."""
        transport = httpx.ASGITransport(app=_app(_container(tmp_path, secure_cookie="true")))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            answer = await client.get("/console/login")
        assert "Secure" in answer.headers["set-cookie"]

    @pytest.mark.parametrize("path", ["/console/login", "/console/", "/console/static/console.css"])
    async def test_strict_csp_and_friends_on_every_answer(self, client, path):
        """CSP denies everything but our CSS and our forms; nosniff, no referrer, no caching."""
        answer = await client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "style-src 'self'" in csp
        assert "form-action 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"

    async def test_pages_have_no_script(self, client):
        """The pages work without JavaScript: none is sent."""
        await _login(client)
        for path in ("/console/outbox", "/console/webhooks", "/console/breakers", "/console/"):
            assert "<script" not in (await client.get(path)).text


class TestCSRF:
    """Every action needs the session's CSRF token."""

    @pytest.mark.parametrize("token", [None, "", "forged-token"])
    async def test_actions_without_the_right_csrf_token_are_403(self, client, container, token):
        """Missing, empty or wrong CSRF token: 403, nothing done, nothing recorded."""
        await _login(client)
        data = {"integration": "whatsapp", "mode": "open", "minutes": "5"}
        if token is not None:
            data["csrf"] = token
        answer = await client.post("/console/breakers/force", data=data)
        assert answer.status_code == 403
        assert container.breaker_control_store().read() == {}
        assert await _acts(container) == []

    async def test_a_cross_origin_post_is_403_even_with_the_token(self, client):
        """An Origin header naming another site is refused."""
        await _login(client)
        csrf = await _csrf_of(client, "/console/breakers")
        answer = await client.post(
            "/console/breakers/release",
            data={"csrf": csrf, "integration": "whatsapp"},
            headers={"origin": "https://evil.example"},
        )
        assert answer.status_code == 403


async def _dead_letter(container: Container, reason: str) -> str:
    outbox = container.outbox()
    command = SendMessage(TextMessage(to=PATIENT, body=f"Your results are ready {time.time()}"))
    entry_id = await outbox.enqueue(command)
    (entry,) = await outbox.claim(limit=1, lease_seconds=60)
    assert entry.id == entry_id
    assert await outbox.dead_letter(entry, reason=reason)
    return entry_id


class TestOutbox:
    """The outbox page and requeueing from it."""

    async def test_dead_letters_show_the_masked_reason_and_requeue_is_recorded(
        self, client, container
    ):
        """The reason's phone number is masked, the body never shown; requeue is logged."""
        entry_id = await _dead_letter(container, f"rejected: the number {PATIENT} is invalid")
        await _login(client)
        page = await client.get("/console/outbox")
        assert entry_id in page.text
        assert "[number]" in page.text
        assert PATIENT not in page.text
        assert "results are ready" not in page.text
        answer = await client.post(
            "/console/outbox/requeue", data={"csrf": _csrf(page.text), "id": entry_id}
        )
        assert answer.status_code == 303
        after = await client.get("/console/outbox")
        assert "requeue" in after.text
        assert "done" in after.text
        assert (await container.outbox().status()).dead == 0
        (action,) = await _acts(container)
        assert action.action == "requeue"
        assert action.target == entry_id
        assert action.ok
        assert action.operator.startswith("Ana (token ")
        assert TOKEN not in action.operator

    async def test_a_maybe_sent_dead_letter_needs_force(self, client, container):
        """The CLI's guard: an 'outcome unknown' dead letter is requeued only when forced."""
        entry_id = await _dead_letter(container, "outcome unknown: read timeout after send")
        await _login(client)
        page = await client.get("/console/outbox")
        assert "Maybe sent" in page.text
        csrf = _csrf(page.text)
        await client.post("/console/outbox/requeue", data={"csrf": csrf, "id": entry_id})
        assert (await container.outbox().status()).dead == 1
        assert "not done" in (await client.get("/console/outbox")).text
        await client.post(
            "/console/outbox/requeue", data={"csrf": csrf, "id": entry_id, "force": "1"}
        )
        assert (await container.outbox().status()).dead == 0
        forced, refused = await _acts(container)
        assert (forced.action, forced.ok) == ("requeue (forced)", True)
        assert (refused.action, refused.ok) == ("requeue", False)
        assert "outcome unknown" in refused.result


def _refund(event_id: str) -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "created": int(time.time()),
        "type": "refund.created",
        "data": {
            "object": {
                "id": "re_console_1",
                "object": "refund",
                "amount": 2500,
                "currency": "eur",
                "payment_intent": "pi_console_1",
                "status": "succeeded",
            }
        },
    }
    return json.dumps(event).encode()


class TestFailedWebhooks:
    """Replaying and resolving failed webhook events."""

    async def _fail_one(self, client: httpx.AsyncClient, container: Container) -> list[bool]:
        """A refund whose handler refuses it for good until ``fixed[0]``; returns ``fixed``."""
        fixed = [False]
        handled: list[str] = []

        async def handler(event: RefundIssued) -> None:
            if not fixed[0]:
                raise InvalidValue("email", "patient@example.org is not on file")
            handled.append(event.event_id)

        container.webhook_ingress().on(RefundIssued, handler)
        body = _refund("evt_console_1")
        answer = await client.post(
            "/webhooks/stripe",
            content=body,
            headers=sign_stripe(body, DEV_SECRETS["stripe"]["secret"]),
        )
        assert answer.status_code == 200, answer.text
        return fixed

    async def test_replay_after_the_fix_processes_it(self, client, container):
        """A failed event is listed (no body, no email) and a replay after the fix resolves it."""
        fixed = await self._fail_one(client, container)
        await _login(client)
        page = await client.get("/console/webhooks")
        assert FAILED_ID in page.text
        assert "InvalidValue" in page.text
        assert "patient@example.org" not in page.text
        assert "pi_console_1" not in page.text
        csrf = _csrf(page.text)
        await client.post("/console/webhooks/replay", data={"csrf": csrf, "id": FAILED_ID})
        assert "failed_again" in (await client.get("/console/webhooks")).text
        fixed[0] = True
        await client.post("/console/webhooks/replay", data={"csrf": csrf, "id": FAILED_ID})
        page = await client.get("/console/webhooks")
        assert "processed" in page.text
        assert "no failed webhook events" in page.text
        done, again = await _acts(container)
        assert (done.action, done.ok, done.result) == ("replay", True, "processed")
        assert (again.ok, again.result.split(" ")[0]) == (False, "failed_again")

    async def test_resolve_marks_it_handled(self, client, container):
        """Resolve by hand takes it off the list, once."""
        await self._fail_one(client, container)
        await _login(client)
        csrf = await _csrf_of(client, "/console/webhooks")
        for _ in range(2):
            await client.post("/console/webhooks/resolve", data={"csrf": csrf, "id": FAILED_ID})
        assert await container.failed_event_log().count() == 0
        second, first = await _acts(container)
        assert (first.ok, first.result) == (True, "resolved")
        assert (second.ok, second.result) == (False, "already resolved")


class TestBreakers:
    """Forcing a breaker and releasing it."""

    async def test_force_open_for_minutes_then_release(self, client, container):
        """The override is written for the asked minutes, shown, and released."""
        container.messaging()  # builds the messaging pipeline and its breaker (whatsapp)
        await _login(client)
        page = await client.get("/console/breakers")
        assert "whatsapp" in page.text
        assert "CLOSED" in page.text
        csrf = _csrf(page.text)
        await client.post(
            "/console/breakers/force",
            data={"csrf": csrf, "integration": "whatsapp", "mode": "open", "minutes": "5"},
        )
        row = container.breaker_control_store().read()["whatsapp"]
        assert row.mode == "open"
        assert row.until is not None
        assert 290 < row.until - time.time() <= 300
        page = await client.get("/console/breakers")
        assert "FORCED OPEN" in page.text
        assert "operator: open for" in page.text
        await client.post(
            "/console/breakers/release", data={"csrf": csrf, "integration": "whatsapp"}
        )
        assert container.breaker_control_store().read()["whatsapp"].mode is None
        assert "FORCED" not in (await client.get("/console/breakers")).text
        actions = await _acts(container)
        assert [(a.action, a.ok) for a in actions] == [
            ("breaker release", True),
            ("breaker open", True),
        ]
        log = (await client.get("/console/actions")).text
        assert "breaker open" in log
        assert "forced open for 300s" in log

    @pytest.mark.parametrize(
        ("data", "why"),
        [
            ({"integration": "nope", "mode": "open", "minutes": "5"}, "unknown integration"),
            ({"integration": "whatsapp", "mode": "disabled", "minutes": "5"}, "open or closed"),
            ({"integration": "whatsapp", "mode": "open", "minutes": "0"}, "duration"),
            ({"integration": "whatsapp", "mode": "open", "minutes": "nan"}, "duration"),
        ],
    )
    async def test_bad_requests_are_recorded_as_refused(self, client, container, data, why):
        """An unknown integration, mode or duration does nothing and is logged as not done."""
        await _login(client)
        csrf = await _csrf_of(client, "/console/breakers")
        await client.post("/console/breakers/force", data={"csrf": csrf, **data})
        assert container.breaker_control_store().read() == {}
        (action,) = await _acts(container)
        assert not action.ok
        assert why in action.result


class TestSettings:
    """The ``console`` section is validated at start-up."""

    def test_enabled_without_a_token_fails_with_every_problem(self):
        """Enabled without a token, a bad path and a short session: one error, all named."""
        with pytest.raises(ConfigurationError) as caught:
            create_container(
                {"console": {"enabled": True, "path": "console/", "session_seconds": 5}}, env={}
            )
        text = str(caught.value)
        assert "console.token" in text
        assert "console.path" in text
        assert "console.session_seconds" in text

    def test_a_short_token_is_refused_and_never_echoed(self):
        """A token under 16 characters is refused without showing it."""
        with pytest.raises(ConfigurationError) as caught:
            create_container({"console": {"token": "short-secret"}}, env={})
        assert "console.token" in str(caught.value)
        assert "short-secret" not in str(caught.value)

    def test_on_in_serve_with_a_token_off_in_a_host_and_off_when_disabled(self, tmp_path):
        """A token turns the console on for `portico serve` only; enabled: false wins."""
        assert console_wanted(_container(tmp_path), default=True)
        assert not console_wanted(_container(tmp_path), default=False)
        assert not console_wanted(_container(tmp_path, enabled=False), default=True)
        assert not console_wanted(create_container({}, env={}), default=True)

    def test_the_token_is_not_in_the_settings_repr(self, tmp_path):
        """The token never shows in a repr."""
        container = _container(tmp_path)
        assert TOKEN not in repr(container.settings())
        assert TOKEN not in repr(container.settings().console)


class TestAuditReport:
    """The audit report page: the gate, the findings and every section."""

    async def test_the_report_shows_the_gate_findings_and_sections(self, client, container):
        """An open circuit and a dead letter are findings; the gate fails; no secret shown."""
        await _dead_letter(container, f"rejected: the number {PATIENT} is invalid")
        container.messaging()
        breaker = container.breakers()["whatsapp"]
        breaker.force_open(None)
        await _login(client)
        page = await client.get("/console/")
        assert page.status_code == 200
        text = page.text
        assert "Quality gate: FAILED" in text
        for heading in (
            "Issues found",
            "Client status",
            "Resilience configuration",
            "Webhook security",
        ):
            assert heading in text
        assert "whatsapp" in text
        assert "FORCED_OPEN" in text
        assert "sev-warning" in text or "sev-critical" in text
        assert DEV_SECRETS["stripe"]["secret"] not in text
        assert TOKEN not in text
        assert PATIENT not in text
