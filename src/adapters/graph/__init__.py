"""Microsoft Graph: email from a tenant's mailboxes (``sendMail``, app-only OAuth2)."""

from .adapter import BASE_URL, GraphEmail, send_mail_body
from .errors import parse_graph_error


__all__ = ["BASE_URL", "GraphEmail", "parse_graph_error", "send_mail_body"]
