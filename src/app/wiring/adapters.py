"""
Builds the vendors' HTTP adapters from configuration, for the ``sandbox`` / ``production``
environments of `app.container`.

Settings are read flat, as the ``PORTICO_`` variables name them (``PORTICO_STRIPE_API_KEY`` is
``stripe_api_key``), or nested (``stripe: {api_key: ...}`` in YAML, ``PORTICO_STRIPE__API_KEY``).
A missing setting fails at start-up with a `ConfigurationError` naming every missing variable
(`check_production_config`), never at the first call. Secrets are never logged or echoed.

Each vendor adds its own ``missing_<vendor>`` check to `MISSING_CHECKS` and its ``build_<port>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...adapters.http.client import build_client
from ...adapters.hubspot import HUBSPOT_BASE_URL, HUBSPOT_OBJECTS_PATH, HubSpotCRM, HubSpotStages
from ...adapters.stripe import STRIPE_API_VERSION, STRIPE_BASE_URL, StripePayments
from ...adapters.twilio import TwilioMessaging
from ...adapters.twilio.adapter import BASE_URL as TWILIO_BASE_URL
from ...adapters.vapi import BASE_URL as VAPI_BASE_URL
from ...adapters.vapi import VapiVoice
from ...adapters.whatsapp import DIALOG360, WhatsAppMessaging, meta_cloud
from ...domain.errors import ConfigurationError, InvalidValue
from ...domain.values import PhoneNumber
from ...ports.crm import CRMPort
from ...ports.messaging import MessagingPort
from ...ports.payments import PaymentPort
from ...ports.voice import VoicePort
from .status_store import build_status_store


__all__ = [
    "MESSAGING_PROVIDERS",
    "MISSING_CHECKS",
    "build_crm",
    "build_messaging",
    "build_payments",
    "build_voice",
    "check_production_config",
    "hubspot_stages",
    "messaging_integration",
    "missing_hubspot",
    "missing_messaging",
    "missing_stripe",
    "missing_vapi",
    "setting",
]


def setting(config: Mapping[str, Any], name: str) -> str | None:
    """
    ``config[name]`` (flat, ``stripe_api_key``) or the nested path (``stripe.api_key``).

    Blank strings count as missing.
    """
    value: Any = config.get(name)
    if value is None:
        section, _, rest = name.partition("_")
        nested = config.get(section)
        if isinstance(nested, Mapping) and rest:
            value = nested.get(rest)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _variable(name: str) -> str:
    return f"PORTICO_{name.upper()}"


def missing_stripe(config: Mapping[str, Any]) -> list[str]:
    """The Stripe variables that are missing (the secret key)."""
    return [] if setting(config, "stripe_api_key") else [_variable("stripe_api_key")]


def missing_hubspot(config: Mapping[str, Any]) -> list[str]:
    """The HubSpot variables that are missing (the private app token)."""
    return [] if setting(config, "hubspot_token") else [_variable("hubspot_token")]


MESSAGING_PROVIDERS = ("whatsapp", "360dialog", "twilio")
_MESSAGING_NEEDS = {
    "whatsapp": ("whatsapp_token", "whatsapp_phone_number_id"),
    "360dialog": ("d360_api_key",),
    "twilio": ("twilio_account_sid", "twilio_auth_token"),
}


def _provider(config: Mapping[str, Any]) -> str:
    return (setting(config, "messaging_provider") or "whatsapp").lower()


def messaging_integration(config: Mapping[str, Any]) -> str:
    """The integration name of the messaging provider in use (names its breaker and policy)."""
    provider = _provider(config)
    return provider if provider in MESSAGING_PROVIDERS else "whatsapp"


def missing_messaging(config: Mapping[str, Any]) -> list[str]:
    """
    The variables the chosen ``PORTICO_MESSAGING_PROVIDER`` (whatsapp, the default; 360dialog;
    twilio) lacks; an unknown provider is itself reported.
    """
    provider = _provider(config)
    if provider not in _MESSAGING_NEEDS:
        return [_variable("messaging_provider")]
    missing = [_variable(name) for name in _MESSAGING_NEEDS[provider] if not setting(config, name)]
    if provider == "twilio" and not (
        setting(config, "twilio_from_number") or setting(config, "twilio_messaging_service_sid")
    ):
        missing.append(_variable("twilio_from_number"))
    return missing


def missing_vapi(config: Mapping[str, Any]) -> list[str]:
    """The Vapi variables that are missing (private key and the calling number's id)."""
    needed = ("vapi_api_key", "vapi_phone_number_id")
    return [_variable(name) for name in needed if not setting(config, name)]


MISSING_CHECKS: tuple[Callable[[Mapping[str, Any]], list[str]], ...] = (
    missing_stripe,
    missing_hubspot,
    missing_messaging,
    missing_vapi,
)


def check_production_config(config: Mapping[str, Any]) -> list[str]:
    """Every ``PORTICO_*`` variable the real adapters need and the configuration lacks, sorted."""
    return sorted({name for check in MISSING_CHECKS for name in check(config)})


def _require(config: Mapping[str, Any], check: Callable[[Mapping[str, Any]], list[str]]) -> None:
    """Fail naming the variables one adapter lacks (`check_production_config` lists them all)."""
    missing = check(config)
    if missing:
        environment = config.get("environment", "production")
        raise ConfigurationError(
            f"environment {environment!r} needs these variables: {', '.join(missing)}"
        )


def _fail(message: str) -> Exception:
    return ConfigurationError(message)


def build_payments(config: Mapping[str, Any]) -> PaymentPort:
    """
    `StripePayments` from ``stripe_api_key`` (+ optional ``stripe_base_url``,
    ``stripe_api_version``). The sandbox refuses live keys, so it can never move real money.
    """
    _require(config, missing_stripe)
    api_key = setting(config, "stripe_api_key") or ""
    if config.get("environment") == "sandbox" and "_live_" in api_key:
        raise _fail("PORTICO_STRIPE_API_KEY: the sandbox refuses a live key (use sk_test_...)")
    return StripePayments.connect(
        api_key,
        base_url=setting(config, "stripe_base_url") or STRIPE_BASE_URL,
        api_version=setting(config, "stripe_api_version") or STRIPE_API_VERSION,
    )


def _stage_map(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``hubspot.<name>`` (or flat ``hubspot_<name>``): domain stage -> this portal's value."""
    nested = config.get("hubspot")
    found = config.get(f"hubspot_{name}")
    if found is None and isinstance(nested, Mapping):
        found = nested.get(name)
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        raise ConfigurationError(f"hubspot.{name} must map domain stages to HubSpot values")
    return found


def hubspot_stages(config: Mapping[str, Any]) -> HubSpotStages:
    """
    The portal's spelling of the domain's stages: ``hubspot.deal_stages`` (``open``, ``won``,
    ``lost`` -> its pipeline's stage ids) and ``hubspot.lifecycle_stages``; HubSpot's defaults
    for every stage not given.
    """
    try:
        return HubSpotStages.from_config(
            lifecycle_stages=_stage_map(config, "lifecycle_stages"),
            deal_stages=_stage_map(config, "deal_stages"),
        )
    except InvalidValue as err:
        raise ConfigurationError(str(err)) from None


def build_crm(config: Mapping[str, Any]) -> CRMPort:
    """
    `HubSpotCRM` from ``hubspot_token`` (+ optional ``hubspot_base_url``,
    ``hubspot_objects_path``, ``hubspot_default_currency``, ``hubspot_phone_id_property``: a
    unique-value contact property that makes phone-only upserts idempotent; and the portal's
    stage ids, see `hubspot_stages`).
    """
    _require(config, missing_hubspot)
    return HubSpotCRM.connect(
        setting(config, "hubspot_token") or "",
        base_url=setting(config, "hubspot_base_url") or HUBSPOT_BASE_URL,
        objects_path=setting(config, "hubspot_objects_path") or HUBSPOT_OBJECTS_PATH,
        default_currency=setting(config, "hubspot_default_currency") or "EUR",
        phone_id_property=setting(config, "hubspot_phone_id_property"),
        stages=hubspot_stages(config),
    )


# ---------------------------------------------------------------- messaging and voice


def _content_sids(config: Mapping[str, Any]) -> dict[str, str]:
    twilio = config.get("twilio")
    sids = twilio.get("content_sids") if isinstance(twilio, Mapping) else None
    if not isinstance(sids, Mapping):
        return {}
    return {str(name): str(sid) for name, sid in sids.items()}


def build_messaging(config: Mapping[str, Any]) -> MessagingPort:
    """
    The `MessagingPort` that ``PORTICO_MESSAGING_PROVIDER`` names, all behind the same port:

    - ``whatsapp``: Meta's Cloud API from ``whatsapp_token``, ``whatsapp_phone_number_id``
      (+ optional ``whatsapp_graph_version``, ``whatsapp_base_url``);
    - ``360dialog``: from ``d360_api_key`` (+ optional ``d360_base_url``);
    - ``twilio``: SMS from ``twilio_account_sid``, ``twilio_auth_token`` and
      ``twilio_from_number`` or ``twilio_messaging_service_sid`` (+ optional
      ``twilio_status_callback``, ``twilio_base_url``, nested ``twilio.content_sids``).

    WhatsApp and 360dialog keep statuses in the store ``messaging.status_store`` names (SQLite
    by default; `app.status_store_wiring`), shared with the process that receives the webhooks.
    """
    provider = _provider(config)
    if provider not in MESSAGING_PROVIDERS:
        raise _fail(f"PORTICO_MESSAGING_PROVIDER must be one of {', '.join(MESSAGING_PROVIDERS)}")
    _require(config, missing_messaging)
    try:
        if provider == "whatsapp":
            flavour = meta_cloud(setting(config, "whatsapp_graph_version") or "v23.0")
            return WhatsAppMessaging(
                http=build_client(setting(config, "whatsapp_base_url") or flavour.base_url),
                credential=setting(config, "whatsapp_token") or "",
                flavour=flavour,
                phone_number_id=setting(config, "whatsapp_phone_number_id"),
                status_log=build_status_store(config),
            )
        if provider == "360dialog":
            return WhatsAppMessaging(
                http=build_client(setting(config, "d360_base_url") or DIALOG360.base_url),
                credential=setting(config, "d360_api_key") or "",
                flavour=DIALOG360,
                status_log=build_status_store(config),
            )
        sender = setting(config, "twilio_from_number")
        return TwilioMessaging(
            http=build_client(setting(config, "twilio_base_url") or TWILIO_BASE_URL),
            account_sid=setting(config, "twilio_account_sid") or "",
            auth_token=setting(config, "twilio_auth_token") or "",
            sender=PhoneNumber.parse(sender, field="twilio_from_number") if sender else None,
            messaging_service_sid=setting(config, "twilio_messaging_service_sid"),
            status_callback=setting(config, "twilio_status_callback"),
            content_sids=_content_sids(config),
        )
    except InvalidValue as err:
        raise _fail(f"messaging provider {provider!r}: {err}") from None


def build_voice(config: Mapping[str, Any]) -> VoicePort:
    """`VapiVoice` from ``vapi_api_key`` and ``vapi_phone_number_id`` (+ ``vapi_base_url``)."""
    _require(config, missing_vapi)
    try:
        return VapiVoice(
            http=build_client(setting(config, "vapi_base_url") or VAPI_BASE_URL),
            api_key=setting(config, "vapi_api_key") or "",
            phone_number_id=setting(config, "vapi_phone_number_id") or "",
        )
    except InvalidValue as err:
        raise _fail(f"voice: {err}") from None
