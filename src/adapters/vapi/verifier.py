"""
Vapi server-URL webhooks: a shared-secret header, or a configurable HMAC plan.

Vapi has no single fixed scheme. A server credential is either
- **bearer**: the secret sent verbatim in a header, ``Authorization: Bearer <secret>`` by
  default; the legacy ``X-Vapi-Secret: <secret>`` is the same plan with the header renamed and
  the ``Bearer`` prefix off (`VapiWebhookVerifier` default, since that is what existing
  assistants send); or
- **hmac** (`VapiHmacPlan`, mirroring Vapi's ``HMACAuthenticationPlan``): a MAC over a payload
  template (default ``{timestamp}.{body}``) sent in a configurable header, hex or base64, with an
  optional prefix such as ``sha256=``. Vapi's docs do not state the unit of the timestamp header,
  so ``timestamp_unit="auto"`` reads values above 10^11 as milliseconds; pin it once you have
  captured a real request.

The same shared-secret check serves any provider that can only add a static header
(360dialog client webhooks, for instance).
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import Literal

import attrs

from ...domain.errors import InvalidSignature, InvalidValue, MalformedWebhook
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import SignatureScheme, WebhookRequest
from ...ports.webhooks import WebhookVerifier
from ..webhooks.signatures import (
    any_match,
    check_window,
    mismatch,
    parse_timestamp,
    rebase_url,
    single_header,
    utf8,
)


__all__ = ["VapiHmacPlan", "VapiWebhookVerifier", "vapi_hmac_signature"]

_PLACEHOLDER = re.compile(r"\{(body|timestamp|method|url|svix-id)\}")
_MS_THRESHOLD = 10**11  # 1973 in milliseconds, year 5138 in seconds


def _template(value: str) -> str:
    if "{body}" not in value:
        raise InvalidValue("payload_format", "must contain {body}")
    return value


@attrs.frozen
class VapiHmacPlan:
    """
    How a Vapi HMAC credential signs (the fields of Vapi's ``HMACAuthenticationPlan``).

    ``timestamp_header=None`` is Vapi's ``includeTimestamp: false``; ``message_id_header`` feeds
    the ``{svix-id}`` placeholder.
    """

    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    signature_header: str = "x-signature"
    timestamp_header: str | None = "x-timestamp"
    payload_format: str = attrs.field(default="{timestamp}.{body}", converter=_template)
    signature_prefix: str = ""
    signature_encoding: Literal["hex", "base64"] = "hex"
    secret_is_base64: bool = False
    message_id_header: str | None = None
    timestamp_unit: Literal["auto", "s", "ms"] = "auto"


def vapi_hmac_signature(
    plan: VapiHmacPlan,
    secret: str,
    body: bytes,
    *,
    timestamp: str = "",
    method: str = "POST",
    url: str = "",
    message_id: str = "",
) -> str:
    """The header value (prefix included) a Vapi HMAC credential sends for this request."""
    values = {"timestamp": timestamp, "method": method, "url": url, "svix-id": message_id}
    pieces: list[bytes] = []
    for index, piece in enumerate(_PLACEHOLDER.split(plan.payload_format)):
        if index % 2 == 0:
            pieces.append(utf8(piece, what="payload_format", integration="vapi"))
        elif piece == "body":
            pieces.append(body)
        else:
            pieces.append(utf8(values[piece], what=f"the {piece} value", integration="vapi"))
    key = base64.b64decode(secret) if plan.secret_is_base64 else secret.encode()
    digest = hmac.digest(key, b"".join(pieces), plan.algorithm)
    encoded = (
        digest.hex() if plan.signature_encoding == "hex" else base64.b64encode(digest).decode()
    )
    return plan.signature_prefix + encoded


def _secret(value: str) -> str:
    if not value:
        raise InvalidValue("secret", "the Vapi server credential secret, non-empty")
    return value


@attrs.frozen
class VapiWebhookVerifier(WebhookVerifier):
    """
    Verifies Vapi server messages by shared secret (default) or by HMAC (``hmac_plan=...``).

    Args:
        secret: the credential's token / secret key (base64 when ``hmac_plan.secret_is_base64``).
        header: the shared-secret header (``X-Vapi-Secret``, or ``Authorization``).
        bearer_prefix: expect ``Bearer <secret>``; default True only for ``Authorization``.
        hmac_plan: the HMAC plan; when set, ``header`` and ``bearer_prefix`` are not used.
        tolerance: seconds the HMAC timestamp may be old or ahead of the clock.
        clock: the time source; `Clock.now` is compared with the signed timestamp.
        public_base_url: scheme and host Vapi calls, for templates with ``{url}``.
        integration: the name used in rejections.
    """

    secret: str = attrs.field(converter=_secret, repr=False)
    header: str = "X-Vapi-Secret"
    bearer_prefix: bool | None = None
    hmac_plan: VapiHmacPlan | None = None
    tolerance: float = 300.0
    clock: Clock = SYSTEM_CLOCK
    public_base_url: str | None = None
    integration: str = "vapi"

    def __attrs_post_init__(self) -> None:
        if self.hmac_plan is not None and self.hmac_plan.secret_is_base64:
            try:
                base64.b64decode(self.secret, validate=True)
            except ValueError:
                raise InvalidValue("secret", "must be base64 when secret_is_base64") from None

    def scheme(self) -> SignatureScheme:
        """
        The shared-secret header (no MAC, no timestamp), or the HMAC plan's header and window.

        Confirmed: https://docs.vapi.ai/server-url/server-authentication (bearer or HMAC).
        """
        plan = self.hmac_plan
        if plan is None:
            bearer = self.bearer_prefix
            if bearer is None:
                bearer = self.header.lower() == "authorization"
            shown = f"{self.header}: Bearer <secret>" if bearer else f"{self.header}: <secret>"
            return SignatureScheme(
                f"{shown} (shared secret compared in constant time; no MAC of the body)", None
            )
        window = self.tolerance if plan.timestamp_header is not None else None
        return SignatureScheme(
            f"{plan.signature_header} (HMAC-{plan.algorithm.upper()} of "
            f"{plan.payload_format}, {plan.signature_encoding})",
            window,
        )

    def verify(self, request: WebhookRequest) -> None:
        """Accept the delivery or raise a WebhookRejected subclass (see the port)."""
        if self.hmac_plan is None:
            self._verify_shared_secret(request)
        else:
            self._verify_hmac(request, self.hmac_plan)

    def _verify_shared_secret(self, request: WebhookRequest) -> None:
        value = single_header(request, self.header, integration=self.integration)
        assert value is not None
        bearer = self.bearer_prefix
        if bearer is None:
            bearer = self.header.lower() == "authorization"
        expected = f"Bearer {self.secret}" if bearer else self.secret
        presented = value
        if bearer and value[:7].lower() == "bearer ":
            presented = "Bearer " + value[7:].strip()
        if not any_match([utf8(expected, what="secret", integration=self.integration)],
                         [presented.encode()]):  # fmt: skip
            msg = f"{self.header} does not carry the configured secret"
            raise InvalidSignature(msg, integration=self.integration)

    def _read(self, request: WebhookRequest, header: str | None) -> str:
        if header is None:
            return ""
        value = single_header(request, header, integration=self.integration)
        assert value is not None
        return value

    def _verify_hmac(self, request: WebhookRequest, plan: VapiHmacPlan) -> None:
        signature = self._read(request, plan.signature_header)
        raw_ts = self._read(request, plan.timestamp_header)
        url = rebase_url(request.url, self.public_base_url)
        expected = vapi_hmac_signature(
            plan,
            self.secret,
            request.body,
            timestamp=raw_ts,
            method=request.method,
            url=url,
            message_id=self._read(request, plan.message_id_header),
        )
        if not signature.startswith(plan.signature_prefix):
            msg = f"{plan.signature_header} must start with {plan.signature_prefix!r}"
            raise MalformedWebhook(msg, integration=self.integration)
        if plan.signature_encoding == "hex":
            expected, signature = expected.lower(), signature.lower()
        uses_url = "{url}" in plan.payload_format
        if not any_match([expected.encode()], [signature.encode()]):
            what = f"{plan.signature_header} (HMAC-{plan.algorithm.upper()})"
            raise mismatch(what, integration=self.integration, url=url if uses_url else None)
        if plan.timestamp_header is not None:
            header = plan.timestamp_header
            ts = parse_timestamp(raw_ts, header=header, integration=self.integration)
            millis = plan.timestamp_unit == "ms" or (
                plan.timestamp_unit == "auto" and ts > _MS_THRESHOLD
            )
            check_window(
                ts / 1000 if millis else ts,
                now=self.clock.now().timestamp(),
                tolerance=self.tolerance,
                header=header,
                integration=self.integration,
            )
