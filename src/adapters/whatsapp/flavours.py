"""
Where a WhatsApp Cloud API request goes and how it authenticates: Meta directly, or 360dialog.

Both speak the same Cloud API message bodies and error shapes; only the base URL, the path and
the credential header differ, so one adapter takes a `WhatsAppFlavour` instead of being copied.

- Meta Cloud API, Graph API ``v23.0`` by default (pinned, configurable):
  ``POST https://graph.facebook.com/{version}/{phone_number_id}/messages`` with
  ``Authorization: Bearer <system user token>``.
- 360dialog Cloud API hosting: ``POST https://waba-v2.360dialog.io/messages`` with
  ``D360-API-KEY: <key>`` (the key selects the number, so there is no phone number id).

The health probe (`WhatsAppFlavour.probe_path`) is a cheap authenticated read of the sending
number's own side: Meta's phone number node ``GET /{version}/{phone_number_id}?fields=id``
(401 with code 190 for a bad token, 400 code 100 for an id the token cannot see); 360dialog's
template list ``GET /v1/configs/templates?limit=1`` (401 for a bad key).
"""

from __future__ import annotations

import re

import attrs

from ...domain.errors import InvalidValue


__all__ = ["DEFAULT_GRAPH_VERSION", "DIALOG360", "WhatsAppFlavour", "meta_cloud"]

DEFAULT_GRAPH_VERSION = "v23.0"
_GRAPH_VERSION = re.compile(r"v\d{1,3}\.\d{1,2}")
_PHONE_NUMBER_ID = re.compile(r"\d{1,32}")


@attrs.frozen
class WhatsAppFlavour:
    """
    One way to reach the Cloud API.

    Args:
        name: the provider name used in receipts and errors ("whatsapp", "360dialog").
        base_url: the default base URL when the adapter builds its own client.
        auth_header: the header that carries the credential.
        auth_prefix: what goes before the credential in that header ("Bearer " or nothing).
        graph_version: the Graph API version in the path (Meta only).
    """

    name: str
    base_url: str
    auth_header: str
    auth_prefix: str = ""
    graph_version: str | None = None

    @property
    def needs_phone_number_id(self) -> bool:
        """Meta addresses the sending number in the path; 360dialog derives it from the key."""
        return self.graph_version is not None

    def messages_path(self, phone_number_id: str | None) -> str:
        """The path of the send endpoint, relative to the client's base URL."""
        if self.graph_version is None:
            return "/messages"
        if phone_number_id is None or not _PHONE_NUMBER_ID.fullmatch(phone_number_id):
            raise InvalidValue("phone_number_id", "must be the numeric id of the sending number")
        return f"/{self.graph_version}/{phone_number_id}/messages"

    def probe_path(self, phone_number_id: str | None) -> tuple[str, dict[str, str]]:
        """The path and query of the health read (see the module docstring)."""
        if self.graph_version is None:
            return "/v1/configs/templates", {"limit": "1"}
        messages = self.messages_path(phone_number_id)  # validates the id
        return messages.removesuffix("/messages"), {"fields": "id"}

    def auth_headers(self, credential: str) -> dict[str, str]:
        """The credential header for one request (never logged)."""
        return {self.auth_header: f"{self.auth_prefix}{credential}"}


def meta_cloud(graph_version: str = DEFAULT_GRAPH_VERSION) -> WhatsAppFlavour:
    """Meta's own Cloud API at the given Graph API version (``"v23.0"``)."""
    if not _GRAPH_VERSION.fullmatch(graph_version):
        raise InvalidValue("graph_version", "must look like 'v23.0'")
    return WhatsAppFlavour(
        name="whatsapp",
        base_url="https://graph.facebook.com",
        auth_header="Authorization",
        auth_prefix="Bearer ",
        graph_version=graph_version,
    )


DIALOG360 = WhatsAppFlavour(
    name="360dialog", base_url="https://waba-v2.360dialog.io", auth_header="D360-API-KEY"
)
