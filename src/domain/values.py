"""
Validated value types shared by every integration: phone numbers, emails, money, idempotency keys.

Each normalises its input once, refuses bad input with `InvalidValue` naming the field, and masks
patient data in ``repr`` and ``str`` so a value can be logged safely. The wire form is an explicit
property (``PhoneNumber.e164``, ``Email.address``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import attrs
import phonenumbers

from .errors import InvalidValue


__all__ = [
    "ZERO_DECIMAL_CURRENCIES",
    "Email",
    "IdempotencyKey",
    "Money",
    "PhoneNumber",
    "mask_text",
]

# What people put between digits: spaces (any Unicode space), dashes, dots, slashes, brackets.
_PHONE_SEPARATORS = re.compile(r"[\s\-().\u00a0/\u2010-\u2015\u2212\u30fc\uff0d]")
_PLUS_SIGNS = str.maketrans({"\uff0b": "+"})  # the full-width plus sign is a plus
_INTERNATIONAL = re.compile(r"\+[0-9]{1,20}")
_MAX_PHONE_INPUT = 64  # characters; more is not a phone number, and is never parsed
_E164_RULE = "must be international: '+' (or '00'), the country code, then the number"
_PLAN_RULE = "is not a valid number in its country's numbering plan"
_E164_FORMAT = phonenumbers.PhoneNumberFormat.E164


def mask_text(value: str, *, keep: int = 2) -> str:
    """Mask all but the first and last ``keep`` characters (``"Popescu"`` -> ``"Po***cu"``)."""
    if len(value) <= 2 * keep:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def _ascii_digits(text: str) -> str:
    """Every Unicode decimal digit (full-width, Arabic-Indic, Devanagari...) as its ASCII digit."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _normalise_phone(raw: object) -> str:
    if isinstance(raw, PhoneNumber):
        return raw.e164
    if not isinstance(raw, str):
        raise InvalidValue("phone", f"must be str, not {type(raw).__name__}")
    if len(raw) > _MAX_PHONE_INPUT:
        raise InvalidValue("phone", _E164_RULE)
    compact = _ascii_digits(_PHONE_SEPARATORS.sub("", raw).translate(_PLUS_SIGNS))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _INTERNATIONAL.fullmatch(compact):
        raise InvalidValue("phone", _E164_RULE)
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        raise InvalidValue("phone", _E164_RULE) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("phone", _PLAN_RULE)
    return phonenumbers.format_number(number, _E164_FORMAT)


@attrs.frozen(repr=False)
class PhoneNumber:
    """
    A phone number in E.164 form (``+``, the country code and the national number: 15 digits at
    most, 7 for the shortest plans such as Niue's ``+683 xxxx``).

    Accepts common human input: spaces, dashes, dots, slashes, parentheses, a leading ``00``,
    the full-width plus and non-ASCII decimal digits (full-width, Arabic-Indic...) are normalised
    to ASCII E.164, so every spelling of a number is one equal value. The number must be valid
    under libphonenumber's numbering-plan metadata (the ``phonenumbers`` package): an assigned
    country code and a range in use there (``+1 555 01xx`` fictional numbers are not). ``repr``
    and ``str`` are masked (``+40*******78``); use ``e164`` or ``digits`` on the wire.
    """

    e164: str = attrs.field(converter=_normalise_phone)

    @classmethod
    def parse(cls, raw: object, *, field: str = "phone") -> PhoneNumber:
        """Parse ``raw``, naming ``field`` in the error when it is not a phone number."""
        try:
            return cls(raw)
        except InvalidValue as err:
            raise InvalidValue(field, err.rule) from None

    @property
    def digits(self) -> str:
        """The number without ``+``, as WhatsApp wants it."""
        return self.e164[1:]

    @property
    def masked(self) -> str:
        """Safe for logs: country code prefix and the last two digits."""
        return "+" + self.digits[:2] + "*" * (len(self.digits) - 4) + self.digits[-2:]

    def __repr__(self) -> str:
        return f"PhoneNumber({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def _normalise_email(raw: object) -> str:
    if isinstance(raw, Email):
        return raw.address
    if not isinstance(raw, str):
        raise InvalidValue("email", f"must be str, not {type(raw).__name__}")
    candidate = raw.strip()
    if len(candidate) > 254 or not _EMAIL.fullmatch(candidate):
        raise InvalidValue("email", "must be an address like name@example.com")
    local, _, domain = candidate.rpartition("@")
    if len(local) > 64:
        raise InvalidValue("email", "the part before '@' must be at most 64 characters")
    return f"{local}@{domain.lower()}"


@attrs.frozen(repr=False)
class Email:
    """An email address; the domain is lower-cased. ``repr`` and ``str`` are masked."""

    address: str = attrs.field(converter=_normalise_email)

    @classmethod
    def parse(cls, raw: object, *, field: str = "email") -> Email:
        """Parse ``raw``, naming ``field`` in the error when it is not an address."""
        try:
            return cls(raw)
        except InvalidValue as err:
            raise InvalidValue(field, err.rule) from None

    @property
    def masked(self) -> str:
        """Safe for logs: ``j***@example.com``."""
        local, _, domain = self.address.rpartition("@")
        return f"{local[0]}***@{domain}"

    def __repr__(self) -> str:
        return f"Email({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


# Stripe's list of zero-decimal currencies (amounts are whole units).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF ISK".split()
)
# ISO 4217 currencies with three minor digits.
THREE_DECIMAL_CURRENCIES = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
# Active ISO 4217 codes (2024 list, funds and metals excluded).
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)


def _currency(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("currency", f"must be str, not {type(raw).__name__}")
    code = raw.strip().upper()
    if code not in ISO_4217:
        raise InvalidValue("currency", "must be an active ISO 4217 code such as EUR or RON")
    return code


# No vendor takes an amount anywhere near this (Stripe: 8 digits of minor units).
_MAX_MAJOR_DIGITS = 18


def _amount_minor(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(
            "amount_minor", f"must be an int of minor units, not {type(value).__name__}"
        )
    if value < 0:
        raise InvalidValue("amount_minor", "must not be negative")


@attrs.frozen(order=False)
class Money:
    """
    An amount in integer minor units of an ISO 4217 currency (never a float).

    ``Money(15000, "RON")`` is 150.00 RON; ``Money(1500, "JPY")`` is 1,500 yen, since the yen has
    no minor unit. Arithmetic and comparison only between equal currencies.
    """

    amount_minor: int = attrs.field(validator=_amount_minor)
    currency: str = attrs.field(converter=_currency)

    @classmethod
    def of(cls, amount: str | Decimal | int, currency: str) -> Money:
        """Build from a major-unit amount given exactly (``Money.of("150.00", "RON")``)."""
        code = _currency(currency)
        if isinstance(amount, float | bool):
            raise InvalidValue("amount", "must be str, Decimal or int, never float")
        try:
            major = Decimal(amount)
        except (InvalidOperation, ValueError, TypeError):
            raise InvalidValue("amount", "must be a decimal number such as '150.00'") from None
        if not major.is_finite():
            raise InvalidValue("amount", "must be finite")
        if major and major.adjusted() >= _MAX_MAJOR_DIGITS:
            # Also keeps scaleb from overflowing and int() from building a huge number.
            raise InvalidValue("amount", f"must be less than 10^{_MAX_MAJOR_DIGITS}")
        scaled = major.scaleb(exponent(code))
        if scaled != scaled.to_integral_value():
            raise InvalidValue("amount", f"has more decimals than {code} allows")
        return cls(int(scaled), code)

    @property
    def exponent(self) -> int:
        """How many minor digits the currency has (2 for EUR, 0 for JPY, 3 for KWD)."""
        return exponent(self.currency)

    def to_decimal(self) -> Decimal:
        """The major-unit amount, exactly."""
        return (
            Decimal(self.amount_minor)
            .scaleb(-self.exponent)
            .quantize(Decimal(1).scaleb(-self.exponent), rounding=ROUND_HALF_EVEN)
        )

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidValue("currency", f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount_minor >= other.amount_minor

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"


def exponent(currency: str) -> int:
    """Minor digits of ``currency`` (ISO 4217 exponent, with Stripe's zero-decimal list)."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


_KEY = re.compile(r"[!-~]{1,255}")  # printable ASCII, no spaces: what every vendor accepts


def _key(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("idempotency_key", f"must be str, not {type(raw).__name__}")
    if not _KEY.fullmatch(raw):
        raise InvalidValue(
            "idempotency_key", "must be 1 to 255 printable ASCII characters without spaces"
        )
    return raw


@attrs.frozen
class IdempotencyKey:
    """
    The key that makes a retried create safe at the vendor (Stripe's ``Idempotency-Key``).

    Use `new` for a fresh operation, or `derive` to compute the same key from the same business
    facts (a deal id and an attempt), so a redelivery after a crash reuses it.
    """

    value: str = attrs.field(converter=_key)

    @classmethod
    def new(cls) -> IdempotencyKey:
        """A random key (UUID4)."""
        return cls(str(uuid.uuid4()))

    @classmethod
    def derive(cls, *parts: str) -> IdempotencyKey:
        """A deterministic key from ``parts``; hashed, so no patient data leaks into it."""
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        return cls(f"pk_{digest[:40]}")

    def __str__(self) -> str:
        return self.value
