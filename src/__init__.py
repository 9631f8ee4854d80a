"""
Portico: a resilient, secure and testable layer between an application and its vendors.

What a host needs every day is importable from here::

    import portico

    container = portico.create_container()          # settings checked once, here
    api = FastAPI(lifespan=portico.lifespan(container))
    api.mount("/webhooks", portico.create_webhook_app(container))

The layers are subpackages: `portico.domain` (values, events, errors), `portico.ports` (the
Protocols), `portico.adapters` (vendors, fakes, resilience, stores) and `portico.app` (services,
wiring, entry points). `portico.testing` is for the host's tests.
"""

from .app.entrypoints.asgi import WebhookApp, create_webhook_app
from .app.wiring.container import Container, create_container
from .app.wiring.lifecycle import Lifespan, lifespan
from .domain.errors import (
    AuthenticationFailed,
    BulkheadFull,
    CircuitOpenError,
    ConfigurationError,
    Conflict,
    IntegrationError,
    InvalidRequest,
    InvalidSignature,
    InvalidValue,
    LocalRejection,
    MalformedWebhook,
    NetworkError,
    NotFound,
    OutcomeUnknown,
    PayloadTooLarge,
    PermanentError,
    PermissionDenied,
    PorticoError,
    RateLimited,
    RateLimitExceeded,
    RetryExhaustedError,
    StaleTimestamp,
    TimedOut,
    TokenRefreshFailed,
    TransientError,
    Unavailable,
    UnexpectedResponse,
    WebhookRejected,
)
from .domain.events import (
    CallEnded,
    CallStatusChanged,
    CheckoutCompleted,
    CheckoutPaymentSettled,
    ContactChanged,
    DomainEvent,
    MessageReceived,
    MessageStatusChanged,
    MessagingErrorReported,
    PaymentFailed,
    PaymentSucceeded,
    RefundIssued,
)
from .domain.values import Email, IdempotencyKey, Money, PhoneNumber
from .ports import CRMPort, MessagingPort, PaymentPort, VoicePort


__all__ = [
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
