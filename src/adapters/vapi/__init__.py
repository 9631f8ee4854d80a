"""The Vapi voice-agent adapter."""

from .adapter import BASE_URL, VapiVoice, call_from_vapi
from .errors import parse_vapi_error


__all__ = ["BASE_URL", "VapiVoice", "call_from_vapi", "parse_vapi_error"]
