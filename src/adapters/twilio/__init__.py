"""The Twilio Programmable Messaging (SMS) adapter."""

from .adapter import MAX_SMS_BODY, TwilioMessaging
from .errors import parse_twilio_error
from .statuses import MESSAGE_STATUSES, delivery_status


__all__ = [
    "MAX_SMS_BODY",
    "MESSAGE_STATUSES",
    "TwilioMessaging",
    "delivery_status",
    "parse_twilio_error",
]
