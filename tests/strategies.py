"""Hypothesis strategies for Portico's domain values, defined once for every test module."""

from __future__ import annotations

import phonenumbers
from hypothesis import strategies as st

from portico.domain.values import (
    ISO_4217,
    ZERO_DECIMAL_CURRENCIES,
    Email,
    IdempotencyKey,
    Money,
    PhoneNumber,
)


__all__ = [
    "currencies",
    "e164_strings",
    "emails",
    "formatted_phones",
    "idempotency_keys",
    "invalid_key_strings",
    "money",
    "phone_numbers",
    "zero_decimal_currencies",
]

# Valid numbers under libphonenumber's metadata: every region's example number of every type it
# has (phonenumbers.example_number_for_type), its last digits varied and kept only when still
# valid. Short plans (Niue +683, Tokelau +690: 7 digits in all) and 15-digit ones are included.
_EXAMPLES = sorted(
    {
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in phonenumbers.supported_types_for_region(region)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    }
)


def _valid(e164: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))


e164_strings = st.one_of(
    st.sampled_from(_EXAMPLES),
    st.builds(
        lambda example, tail: example[: -len(tail)] + tail,
        st.sampled_from(_EXAMPLES),
        st.text(alphabet="0123456789", min_size=1, max_size=3),
    ).filter(_valid),
)
phone_numbers = e164_strings.map(PhoneNumber)

_SEPARATORS = st.sampled_from([" ", "-", ".", "/", "\u00a0", "", ""])


@st.composite
def formatted_phones(draw: st.DrawFn) -> tuple[str, str]:
    """(how a human might type a number, its E.164 form): separators, brackets, a 00 prefix."""
    e164 = draw(e164_strings)
    digits = e164[1:]
    cut = draw(st.integers(min_value=1, max_value=3))
    country, rest = digits[:cut], digits[cut:]
    groups: list[str] = []
    while rest:
        size = draw(st.integers(min_value=1, max_value=4))
        groups.append(rest[:size])
        rest = rest[size:]
    body = "".join(group + draw(_SEPARATORS) for group in groups).rstrip(" -./\u00a0")
    if draw(st.booleans()) and groups:
        body = f"({groups[0]}) " + body[len(groups[0]) :].lstrip(" -./\u00a0")
    prefix = draw(st.sampled_from(["+", "00", "+ "]))
    padding = draw(st.sampled_from(["", " ", "  "]))
    return f"{padding}{prefix}{country} {body}{padding}", e164


_LOCAL = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]", fullmatch=True).filter(
    lambda s: ".." not in s
)
_DOMAIN = st.from_regex(r"([a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\.){1,3}[a-z]{2,8}", fullmatch=True)
emails = st.builds(lambda local, domain: Email(f"{local}@{domain}"), _LOCAL, _DOMAIN)

currencies = st.sampled_from(sorted(ISO_4217))
zero_decimal_currencies = st.sampled_from(sorted(ZERO_DECIMAL_CURRENCIES))
money = st.builds(Money, st.integers(min_value=0, max_value=10**15), currencies)

idempotency_keys = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=255
).map(IdempotencyKey)
invalid_key_strings = st.one_of(
    st.just(""),
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=256, max_size=300
    ),
    st.builds(
        lambda a, bad, b: a + bad + b,
        st.text(alphabet="abc123", max_size=10),
        st.sampled_from([" ", "\t", "\n", "é", "\u00a0", "\x00", "🙂"]),
        st.text(alphabet="abc123", max_size=10),
    ),
)
