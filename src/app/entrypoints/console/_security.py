"""
The console's locks: the token check, server-side sessions with their CSRF token, the login rate
limit, and the response headers every page carries.

- The token is compared with `hmac.compare_digest` on SHA-256 digests (constant time, whatever
  the lengths); it is never stored in a session, a log or a page: an operator is named by the
  label they typed and the token's fingerprint (``token 1a2b3c4d``).
- A session is a random 256-bit id (``secrets``) in an ``HttpOnly; SameSite=Strict; Path=<console>``
  cookie (``Secure`` over HTTPS, or as ``console.secure_cookie`` says), mapped to its state in
  this process; it expires ``console.session_seconds`` after login, and logout forgets it. A
  restart logs everyone out.
- Each session has its own random CSRF token; every POST but the login must carry it (compared in
  constant time) or is refused 403. The login form carries one too, bound to a short-lived
  pre-session cookie, so a cross-site page cannot log a browser into the console.
- Failed logins are limited per client address and overall (a sliding window), answered 429.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable

import attrs


__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "SECURITY_HEADERS",
    "LoginLimiter",
    "Session",
    "Sessions",
    "fingerprint",
    "same_secret",
]

COOKIE = "portico_console"
LOGIN_COOKIE = "portico_console_login"
LOGIN_FORM_SECONDS = 900.0  # a login form must be submitted within 15 minutes
_MAX_SESSIONS = 1000  # beyond this the oldest sessions go first

# default-src 'none' denies everything not named: no script, no image, no frame, no fetch.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time independent of where they differ (or lengths)."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def fingerprint(token: str) -> str:
    """A short, non-reversible name of ``token`` for the action log (8 hex digits of SHA-256)."""
    return hashlib.sha256(b"portico-console:" + token.encode("utf-8")).hexdigest()[:8]


@attrs.define
class Session:
    """One logged-in browser: who, until when, its CSRF token, and the last action's message."""

    id: str = attrs.field(repr=False)
    operator: str
    csrf: str = attrs.field(repr=False)
    expires: float
    flash: tuple[bool, str] | None = None


@attrs.define
class Sessions:
    """The console's sessions in this process, by random id."""

    lifetime: float
    clock: Callable[[], float] = time.monotonic
    _items: dict[str, Session] = attrs.field(factory=dict, init=False)
    _logins: dict[str, float] = attrs.field(factory=dict, init=False, repr=False)

    def create(self, operator: str) -> Session:
        """A new session for ``operator``."""
        self._expire()
        while len(self._items) >= _MAX_SESSIONS:
            self._items.pop(next(iter(self._items)))
        session = Session(
            secrets.token_urlsafe(32),
            operator,
            secrets.token_urlsafe(32),
            self.clock() + self.lifetime,
        )
        self._items[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with that id, or None (unknown, or expired: then forgotten)."""
        if not session_id:
            return None
        session = self._items.get(session_id)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._items[session_id]
            return None
        return session

    def end(self, session_id: str | None) -> None:
        """Forget the session (logout)."""
        if session_id:
            self._items.pop(session_id, None)

    def login_form(self) -> tuple[str, str]:
        """A pre-session id and its CSRF token for one login form."""
        self._expire()
        while len(self._logins) >= _MAX_SESSIONS:
            self._logins.pop(next(iter(self._logins)))
        form_id = secrets.token_urlsafe(32)
        self._logins[form_id] = self.clock() + LOGIN_FORM_SECONDS
        return form_id, csrf_of_form(form_id)

    def take_login_form(self, form_id: str | None, csrf: str) -> bool:
        """Whether ``csrf`` belongs to the live login form ``form_id`` (which is used up)."""
        if not form_id:
            return False
        until = self._logins.pop(form_id, None)
        if until is None or until <= self.clock():
            return False
        return hmac.compare_digest(csrf_of_form(form_id).encode(), csrf.encode())

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._items.items() if s.expires <= now]:
            del self._items[key]
        for key in [k for k, until in self._logins.items() if until <= now]:
            del self._logins[key]


_FORM_KEY = secrets.token_bytes(32)  # per process: login forms do not outlive it


def csrf_of_form(form_id: str) -> str:
    """The login form's CSRF token: an HMAC of its pre-session id under a per-process key."""
    return hmac.new(_FORM_KEY, form_id.encode("utf-8"), hashlib.sha256).hexdigest()


@attrs.define
class LoginLimiter:
    """
    At most ``per_client`` failed logins per client address and ``overall`` in all within
    ``window`` seconds; a success does not reset the count (a guesser gains nothing by mixing).
    """

    per_client: int = 5
    overall: int = 50
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: deque[tuple[float, str]] = attrs.field(factory=deque, init=False)

    def allowed(self, client: str) -> bool:
        """Whether ``client`` may try now."""
        self._trim()
        mine = sum(1 for _, who in self._failures if who == client)
        return mine < self.per_client and len(self._failures) < self.overall

    def failed(self, client: str) -> None:
        """Count one failed attempt by ``client``."""
        self._failures.append((self.clock(), client))

    def _trim(self) -> None:
        horizon = self.clock() - self.window
        while self._failures and self._failures[0][0] <= horizon:
            self._failures.popleft()
