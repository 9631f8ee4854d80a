"""The Twilio Programmable Messaging (SMS) adapter."""

from adapters.twilio.adapter import MAX_SMS_BODY, TwilioMessaging
from adapters.twilio.errors import parse_twilio_error
from adapters.twilio.statuses import MESSAGE_STATUSES, delivery_status


__all__ = [
    "MAX_SMS_BODY",
    "MESSAGE_STATUSES",
    "TwilioMessaging",
    "delivery_status",
    "parse_twilio_error",
]
