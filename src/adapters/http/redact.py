"""
Scrubbing vendor error text before it reaches an exception message.

Vendors echo the request back in their errors ("The 'To' number +40712345678 is not a valid phone
number"), so any free text a vendor returns is cut short and has its long digit runs masked
before it is kept.
"""

from __future__ import annotations

import re


__all__ = ["safe_vendor_text"]

# A phone number or another long identifier: 6 or more digits, optionally with '+' and the
# separators people type. Short numbers (error codes such as 131047 are 6 digits) are kept when
# they follow '#', as in Meta's "(#131047)".
_LONG_DIGITS = re.compile(r"(?<![#\w])\+?\d[\d\s\-().]{4,}\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MAX_LENGTH = 300
_MIN_NUMBER_DIGITS = 7  # E.164 numbers have at least 8; a 6-digit run is a vendor code


def safe_vendor_text(text: object, *, max_length: int = MAX_LENGTH) -> str | None:
    """
    ``text`` with phone numbers and email addresses masked and cut to ``max_length``.

    Returns None when ``text`` is not a non-blank string, so a caller can fall back.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    cleaned = _EMAIL.sub("[email]", text.strip())
    cleaned = _LONG_DIGITS.sub(_mask, cleaned)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > max_length:
        cleaned = cleaned[: max_length - 3] + "..."
    return cleaned


def _mask(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if len(digits) < _MIN_NUMBER_DIGITS:
        return match.group()
    return "[number]"
