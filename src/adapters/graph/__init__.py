"""Microsoft Graph: email from a tenant's mailboxes (``sendMail``, app-only OAuth2)."""

from .adapter import BASE_URL, GraphEmail, send_mail_body
from .errors import parse_graph_error
from .parser import GraphNotificationParser
from .verifier import GraphNotificationVerifier


__all__ = [
    "BASE_URL",
    "GraphEmail",
    "GraphNotificationParser",
    "GraphNotificationVerifier",
    "parse_graph_error",
    "send_mail_body",
]
