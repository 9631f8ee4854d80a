"""The Vapi voice-agent adapter."""

from adapters.vapi.adapter import BASE_URL, VapiVoice, call_from_vapi
from adapters.vapi.errors import parse_vapi_error


__all__ = ["BASE_URL", "VapiVoice", "call_from_vapi", "parse_vapi_error"]
