"""Money rules shared by every service: integer minor units, ISO 4217 currencies.

Amounts are never floats anywhere. On the wire a request may give a JSON integer or a string of
digits; responses always give a string of digits, because balances may exceed what a JavaScript
number holds exactly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

DEFAULT_MAX_AMOUNT: Final = 10**15

# Active ISO 4217 codes (funds and precious metals excluded: a wallet holds money).
ISO_4217: Final = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)

_DIGITS = re.compile(r"^[0-9]{1,30}$")


class InvalidAmount(ValueError):
    """An amount that is not a whole number of minor units in the accepted range."""


def parse_amount(raw: object, *, max_amount: int = DEFAULT_MAX_AMOUNT) -> int:
    """A positive amount in minor units from a JSON integer or a string of digits.

    Booleans, floats (even `10.0`), signs, spaces and exponents are refused: a payment system
    should never guess what a client meant by a non-integer.
    """
    if isinstance(raw, bool):
        raise InvalidAmount("must be an integer number of minor units, not a boolean")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw):
        value = int(raw)
    else:
        raise InvalidAmount("must be an integer number of minor units (a JSON integer or digits)")
    if value < 1:
        raise InvalidAmount("must be at least 1")
    if value > max_amount:
        raise InvalidAmount(f"must be at most {max_amount}")
    return value


def parse_currency(raw: object) -> str:
    """An ISO 4217 code, exactly three capital letters of a currency that exists."""
    if not isinstance(raw, str) or raw not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code such as USD (three capital letters)")
    return raw


def _amount_validator(raw: Any) -> int:
    return parse_amount(raw)


AmountIn = Annotated[
    int,
    BeforeValidator(_amount_validator),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": DEFAULT_MAX_AMOUNT},
                {"type": "string", "pattern": "^[0-9]+$"},
            ],
            "description": "Amount in minor units (cents): a JSON integer or a string of digits.",
        }
    ),
]
"""A request amount. The per-operation maximum of the settings is checked by the caller."""

MoneyOut = Annotated[
    int,
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": "^-?[0-9]+$", "description": "Minor units."}),
]
"""A response amount: kept as int in Python, written as a string of digits in JSON."""

Currency = Annotated[
    str,
    BeforeValidator(parse_currency),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[A-Z]{3}$",
            "enum": sorted(ISO_4217),
            "description": "ISO 4217 code.",
        }
    ),
]
