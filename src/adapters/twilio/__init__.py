"""The Twilio Programmable Messaging (SMS) adapter."""

from adapters.twilio.adapter import MAX_SMS_BODY, TwilioMessaging
from adapters.twilio.errors import parse_twilio_error, twilio_status


__all__ = ["MAX_SMS_BODY", "TwilioMessaging", "parse_twilio_error", "twilio_status"]
