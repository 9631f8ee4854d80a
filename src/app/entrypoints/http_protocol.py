"""
The HTTP/1.1 edge of ``portico serve``: uvicorn's h11 protocol with the deadlines and head limits
uvicorn lacks.

Uvicorn times out only an idle keep-alive connection *after* a response, and h11 limits a request
head only while it is incomplete. `EdgeProtocol` adds, per connection:

- a head deadline, armed when the connection opens and when the first bytes of a later head
  arrive (between the two, uvicorn's keep-alive timeout closes an idle connection): a head not
  complete in time closes the connection (no response: there is no request to answer);
- a body deadline, armed once a head is parsed: a body not complete in time is answered 408 and
  the connection closed, and the ASGI app sees the client as gone;
- a limit on header fields and on head bytes, checked on the parsed head however it arrived (in
  one write or many): 431;
- 400 for a request carrying both Content-Length and Transfer-Encoding (RFC 9112 section 6.3:
  ambiguous framing, the stuff of request smuggling).

These live here, not in the ASGI app, because they guard the server's resources (sockets, read
buffers, the event loop) before any app runs, for every route (health ones included); the app
stays server-agnostic, so a host that mounts it under its own server keeps that server's limits,
and the app keeps only what is a route's policy (the body size limit: 413).

Pass the class configured with `edge_protocol` as uvicorn's ``http=``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import attrs
import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from ..wiring.settings import ServerSettings


__all__ = ["EdgeLimits", "EdgeProtocol", "edge_protocol"]

logger = logging.getLogger("portico.serve.edge")

# Our states while no byte of a response is written (h11 lets a server answer a broken head from
# IDLE), and theirs between requests.
_NOTHING_SENT = (h11.IDLE, h11.SEND_RESPONSE)
_WAITING_FOR_HEAD = h11.IDLE


@attrs.frozen
class EdgeLimits:
    """The per-connection deadlines (seconds) and head limits of `EdgeProtocol`."""

    header_timeout: float
    body_timeout: float
    max_headers: int
    max_head_bytes: int

    @classmethod
    def of(cls, settings: ServerSettings) -> EdgeLimits:
        """The limits named in the ``server`` settings section."""
        return cls(
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            max_headers=settings.max_headers,
            max_head_bytes=settings.max_head_bytes,
        )


class _CheckedConnection(h11.Connection):
    """
    h11's server connection refusing a parsed head that is too large or ambiguously framed.

    A refusal is raised as h11's own `RemoteProtocolError`, which uvicorn answers through
    ``send_400_response``; the status it deserves (h11's hint, 431 for an incomplete head over
    ``max_incomplete_event_size`` too) is kept in ``refused_with`` for `EdgeProtocol`.
    """

    def __init__(self, limits: EdgeLimits) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        self.limits = limits
        self.refused_with = 400

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_with = exc.error_status_hint
            raise
        if isinstance(event, h11.Request):
            self._check(event)
        return event

    def _check(self, request: h11.Request) -> None:
        headers = request.headers
        if len(headers) > self.limits.max_headers:
            self._refuse(431, "too many header fields")
        # The head as sent, give or take optional whitespace: request line, fields, blank line.
        size = len(request.method) + len(request.target) + 13
        size += sum(len(name) + len(value) + 4 for name, value in headers) + 2
        if size > self.limits.max_head_bytes:
            self._refuse(431, "request head too large")
        names = {name for name, _ in headers}
        if b"content-length" in names and b"transfer-encoding" in names:
            self._refuse(400, "both Content-Length and Transfer-Encoding")

    def _refuse(self, status: int, reason: str) -> None:
        self.refused_with = status
        raise h11.RemoteProtocolError(reason, error_status_hint=status)


class EdgeProtocol(H11Protocol):
    """`H11Protocol` with head and body deadlines and head limits (see the module docstring)."""

    limits: ClassVar[EdgeLimits] = EdgeLimits.of(ServerSettings())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _CheckedConnection(self.limits)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ uvicorn's hooks

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch(head_started=True)  # uvicorn times nothing until a first response

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch(head_started=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle from here on is uvicorn's keep-alive timeout, until the next head's first byte;
        # a pipelined request already parsed gets its body deadline.
        self._watch(head_started=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """Answer a refused head with its own status (400, 431), then close."""
        self._cancel_timers()
        status = getattr(self.conn, "refused_with", 400)
        logger.info("request refused: %s %s", status, STATUS_PHRASES[status].decode())
        self._answer_and_close(status, STATUS_PHRASES[status])

    # ------------------------------------------------------------ the deadlines

    def _watch(self, *, head_started: bool) -> None:
        """Arm or cancel the deadlines for where the client is in its request."""
        if self.transport.is_closing():
            self._cancel_timers()
            return
        state = self.conn.their_state
        if state is _WAITING_FOR_HEAD:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None
            if self._head_timer is None and head_started:
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout, self._head_too_slow
                )
            return
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if state is h11.SEND_BODY:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(
                    self.limits.body_timeout, self._body_too_slow
                )
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is _WAITING_FOR_HEAD and not self.transport.is_closing():
            logger.info("connection closed: no request head in %gs", self.limits.header_timeout)
            self._cancel_timers()
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        logger.info("request refused: 408, body not complete in %gs", self.limits.body_timeout)
        self._cancel_timers()
        if self.cycle is not None:  # the app's receive() answers http.disconnect from now on
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self._answer_and_close(408, STATUS_PHRASES[408])

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        self._unset_keepalive_if_required()

    def _answer_and_close(self, status: int, reason: bytes) -> None:
        """``status`` with ``Connection: close`` if no response was begun; close either way."""
        if self.conn.our_state in _NOTHING_SENT:
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(reason)).encode("ascii")),
                (b"connection", b"close"),
            ]
            events = (
                h11.Response(status_code=status, headers=headers, reason=reason),
                h11.Data(data=reason),
                h11.EndOfMessage(),
            )
            try:
                self.transport.write(b"".join(self.conn.send(event) or b"" for event in events))
            except h11.LocalProtocolError:  # h11 refuses to answer in this state: just close
                logger.debug("no %s written: the response state forbids it", status)
        self.transport.close()


def edge_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """An `EdgeProtocol` subclass bound to ``limits``, for uvicorn's ``http=``."""
    given = limits

    class BoundEdgeProtocol(EdgeProtocol):
        limits = given

    return BoundEdgeProtocol
