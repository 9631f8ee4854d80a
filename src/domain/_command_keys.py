"""
How a `domain.commands` command gets its idempotency key and its ordering key.

A command either wraps a value that may carry its own key (a message, a call request: the
command takes it, or a new one, and refuses a different one) or a payment request that always
carries one (reused on every attempt). Ordering keys are hashed subjects, never patient data.
"""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

import attrs

from .email import EmailMessage
from .errors import InvalidValue
from .messaging import TemplateMessage, TextMessage
from .payments import CheckoutRequest, PaymentRequest, RefundRequest
from .values import IdempotencyKey
from .voice import CallRequest


__all__ = ["KeyFromRequest", "KeyFromWrapped", "subject", "wrapped_key"]


def subject(integration: str, *parts: str) -> str:
    """A stable, opaque ordering key: hashed so no phone or email sits in an index in clear."""
    return f"{integration}:{IdempotencyKey.derive(*parts).value}"


_Wrapped = TypeVar("_Wrapped", TextMessage | TemplateMessage, CallRequest, EmailMessage)


class KeyFromWrapped(abc.ABC, Generic[_Wrapped]):
    """
    A command around a value that may carry its own key (a message, a call request).

    The command takes that key, or a new one when the value has none, and refuses a different
    one: the key the vendor (or the adapter) sees is the key the outbox stores.
    """

    __slots__ = ()

    idempotency_key: IdempotencyKey

    @property
    @abc.abstractmethod
    def _wrapped(self) -> _Wrapped:
        """The wrapped message or request whose own key, if any, the command must share."""

    def __attrs_post_init__(self) -> None:
        inner = self._wrapped.idempotency_key
        if inner is not None and inner != self.idempotency_key:
            raise InvalidValue("idempotency_key", "differs from the key of the wrapped request")

    def _keyed(self) -> _Wrapped:
        """The wrapped value carrying the command's key, for adapters that can pass it on."""
        return attrs.evolve(self._wrapped, idempotency_key=self.idempotency_key)


def wrapped_key(command: KeyFromWrapped[Any]) -> IdempotencyKey:
    """The default key of a `KeyFromWrapped` command: the wrapped value's, or a new one."""
    return command._wrapped.idempotency_key or IdempotencyKey.new()


class KeyFromRequest:
    """A payment command whose request always carries its key (Stripe's ``Idempotency-Key``)."""

    __slots__ = ()

    request: PaymentRequest | CheckoutRequest | RefundRequest

    @property
    def idempotency_key(self) -> IdempotencyKey:
        """The request's own key, reused on every attempt."""
        return self.request.idempotency_key
