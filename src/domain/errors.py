"""
The one error hierarchy of Portico.

Resilience decides from the *type* of an error whether to retry, trip a breaker or give up, so the
tree is the contract between adapters (which raise) and policies (which decide)::

    PorticoError
    ├── InvalidValue (also ValueError)        bad input to a domain value; names the field
    ├── IntegrationError                      a call to an outside service did not succeed
    │   ├── TransientError                    the vendor may succeed later: retry may help
    │   │   ├── RateLimited                   429 / throughput limits; may carry retry_after
    │   │   ├── Unavailable                   5xx, maintenance
    │   │   ├── TimedOut                      no answer in time
    │   │   └── NetworkError                  connection refused, reset, DNS
    │   ├── PermanentError                    the same request will fail the same way: never retried
    │   │   ├── InvalidRequest                400 / 422, declined card, outside the 24 h window
    │   │   ├── AuthenticationFailed          401, bad or expired credentials
    │   │   │   └── TokenRefreshFailed        no new OAuth2 token: the breaker counts it
    │   │   ├── PermissionDenied              403
    │   │   ├── NotFound                      404
    │   │   └── Conflict                      409, idempotency key reused with another request
    │   ├── OutcomeUnknown                    a non-idempotent call may or may not have been applied
    │   ├── UnexpectedResponse                the vendor answered, but not as it documents
    │   ├── RetryExhaustedError               every attempt failed; keeps the last error
    │   └── LocalRejection                    refused here, before anything was sent
    │       ├── CircuitOpenError              the integration's breaker is open
    │       ├── BulkheadFull                  too many calls in flight
    │       └── RateLimitExceeded             the local token bucket had no token in time
    └── WebhookRejected                       an inbound delivery was refused (a 4xx, with a reason)
        ├── InvalidSignature                  401
        ├── StaleTimestamp                    401
        ├── MalformedWebhook                  400
        └── PayloadTooLarge                   413

Messages never contain secrets or patient data (phone numbers, names, emails, message bodies): they
name the integration, the operation, the field and the rule, and the vendor's code where known.
"""

from __future__ import annotations


__all__ = [
    "AuthenticationFailed",
    "BulkheadFull",
    "CircuitOpenError",
    "ConfigurationError",
    "Conflict",
    "IntegrationError",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidValue",
    "LocalRejection",
    "MalformedWebhook",
    "NetworkError",
    "NotFound",
    "OutcomeUnknown",
    "PayloadTooLarge",
    "PermanentError",
    "PermissionDenied",
    "PorticoError",
    "RateLimitExceeded",
    "RateLimited",
    "RetryExhaustedError",
    "StaleTimestamp",
    "TimedOut",
    "TokenRefreshFailed",
    "TransientError",
    "Unavailable",
    "UnexpectedResponse",
    "WebhookRejected",
]


class PorticoError(Exception):
    """Root of every error Portico raises on purpose."""


class InvalidValue(PorticoError, ValueError):
    """
    A domain value was constructed from bad input.

    The message names the field and the rule, never the rejected value (it may be patient data).
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self) -> tuple[type[InvalidValue], tuple[str, str]]:
        return (type(self), (self.field, self.rule))


class ConfigurationError(PorticoError, ValueError):
    """
    Portico cannot be built from this configuration.

    Raised by `create_container` (and the CLI) before anything is served or sent. ``problems``
    lists every problem found, one sentence each, naming the setting (never its value: it may be
    a secret); the message joins them.
    """

    def __init__(self, *problems: str) -> None:
        self.problems = tuple(problems) or ("invalid configuration",)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            listed = "".join(f"\n  - {problem}" for problem in self.problems)
            message = f"{len(self.problems)} configuration problems:{listed}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ConfigurationError], tuple[str, ...]]:
        return (type(self), self.problems)


class IntegrationError(PorticoError):
    """
    A call to an outside service did not succeed.

    Args:
        message: a safe, human-readable explanation (no secrets, no patient data).
        integration: which integration failed ("stripe", "hubspot", "whatsapp", ...).
        vendor_code: the vendor's own error code, when it gave one.
        request_sent: ``False`` only when the vendor provably did not act on the request (the
            connection was never made, a 429, a 503 before processing). Retry uses it to decide
            whether a non-idempotent operation may be sent again.
        status_code: the HTTP status, when there was a response.
    """

    def __init__(
        self,
        message: str,
        *,
        integration: str = "unknown",
        vendor_code: str | None = None,
        request_sent: bool = True,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.integration = integration
        self.vendor_code = vendor_code
        self.request_sent = request_sent
        self.status_code = status_code

    def __str__(self) -> str:
        code = f" [{self.vendor_code}]" if self.vendor_code else ""
        return f"{self.integration}: {self.message}{code}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, integration={self.integration!r}, "
            f"vendor_code={self.vendor_code!r}, request_sent={self.request_sent!r}, "
            f"status_code={self.status_code!r})"
        )


class TransientError(IntegrationError):
    """The vendor may succeed later: retry may help, and the breaker counts it."""


class RateLimited(TransientError):
    """
    The vendor asked us to slow down.

    Args:
        retry_after: seconds the vendor asked us to wait, when it said (``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        kwargs.setdefault("request_sent", False)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Unavailable(TransientError):
    """The vendor is down or overloaded (5xx)."""


class TimedOut(TransientError):
    """No answer in time. Unless ``request_sent`` is False, the vendor may have acted."""


class NetworkError(TransientError):
    """The connection failed (refused, reset, DNS)."""


class PermanentError(IntegrationError):
    """The same request will fail the same way: never retried, never trips a breaker."""


class InvalidRequest(PermanentError):
    """The vendor refused the request as invalid (400, 422, a declined card, a closed window)."""


class AuthenticationFailed(PermanentError):
    """The credentials were refused (401)."""


class TokenRefreshFailed(AuthenticationFailed):
    """
    A new OAuth2 access token could not be obtained: the credentials or the refresh token were
    refused, or the identity service did not answer.

    Not retried (the next call asks again), but unlike other permanent errors the breaker counts
    it, so a dead token endpoint opens the circuit and calls fail fast. Always
    ``request_sent=False``: the vendor call itself was never made.
    """

    def __init__(self, message: str, **kwargs: object) -> None:
        kwargs["request_sent"] = False
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class PermissionDenied(PermanentError):
    """The credentials lack a permission or scope (403)."""


class NotFound(PermanentError):
    """The object does not exist (404)."""


class Conflict(PermanentError):
    """The request conflicts with the vendor's state, e.g. an idempotency key reused differently."""


class OutcomeUnknown(IntegrationError):
    """
    A non-idempotent call may or may not have been applied by the vendor.

    Raised instead of retrying, so nothing is ever sent twice. Reconcile (look the object up) or
    park the command in the outbox, which re-sends it with the same idempotency key.
    """


class UnexpectedResponse(IntegrationError):
    """
    The vendor answered in a shape it does not document (an HTML error page, truncated JSON, a
    missing field). Neither retried nor counted by breakers; on a 2xx the request was applied.
    """


class RetryExhaustedError(IntegrationError):
    """
    Every attempt failed with a transient error.

    Args:
        last_error: the error of the final attempt (also chained as ``__cause__``).
        attempts: how many attempts were made.
    """

    def __init__(self, last_error: IntegrationError, *, attempts: int) -> None:
        super().__init__(
            f"gave up after {attempts} attempt(s); last error: {type(last_error).__name__}: "
            f"{last_error.message}",
            integration=last_error.integration,
            vendor_code=last_error.vendor_code,
            request_sent=last_error.request_sent,
            status_code=last_error.status_code,
        )
        self.last_error = last_error
        self.attempts = attempts


class LocalRejection(IntegrationError):
    """Refused by a local policy before anything was sent: always ``request_sent=False``."""

    def __init__(self, message: str, *, integration: str = "unknown") -> None:
        super().__init__(message, integration=integration, request_sent=False)


class CircuitOpenError(LocalRejection):
    """
    The integration's circuit breaker is open: fail fast without calling the vendor.

    Args:
        retry_in: seconds until the breaker admits a probe.
    """

    def __init__(self, integration: str, *, retry_in: float) -> None:
        super().__init__(f"circuit open; next probe in {retry_in:.1f}s", integration=integration)
        self.retry_in = retry_in


class BulkheadFull(LocalRejection):
    """Too many calls to this integration are already in flight."""


class RateLimitExceeded(LocalRejection):
    """The local rate limiter had no token within the allowed wait."""


class WebhookRejected(PorticoError):
    """
    An inbound webhook delivery was refused.

    Args:
        reason: what a developer can act on ("no v1 signature in Stripe-Signature"), never a secret.
        integration: the provider the delivery claimed to come from.
    """

    status_code: int = 400

    def __init__(self, reason: str, *, integration: str = "unknown") -> None:
        super().__init__(f"{integration}: {reason}")
        self.reason = reason
        self.integration = integration


class InvalidSignature(WebhookRejected):
    """The signature is missing or does not match the body: answered 401."""

    status_code = 401


class StaleTimestamp(WebhookRejected):
    """The signed timestamp is outside the tolerance window (too old or too far ahead): 401."""

    status_code = 401


class MalformedWebhook(WebhookRejected):
    """The delivery cannot be parsed (bad headers, bad encoding, bad JSON): 400."""

    status_code = 400


class PayloadTooLarge(WebhookRejected):
    """The body is over the configured limit: 413."""

    status_code = 413
