"""Arguments of the reporting queries, checked once for RPC and HTTP alike.

Every check raises ``ValidationError`` with per-argument ``"code: sentence"``
messages; values arrive as JSON (RPC) or strings (HTTP query strings).
"""
import datetime as dt
import re

from services.reporting.domain.figures import NATIONAL, SCHEMES
from shared.errors import ValidationError
from shared.provinces import NEW_PROVINCES, OLD_PROVINCES

MEASURES = ("new_participants", "coverage_rate")


def refuse(name, code, sentence):
    raise ValidationError({name: [f"{code}: {sentence}"]})


def day(name, value, required=False):
    if value is None or value == "":
        if required:
            refuse(name, "required", "a date YYYY-MM-DD")
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        refuse(name, "invalid_date", "a date YYYY-MM-DD")


def province(name, value, allow_national=True):
    if value is None or value == "":
        return None
    if allow_national and value == NATIONAL:
        return value
    if not isinstance(value, str) or value not in OLD_PROVINCES.keys() | NEW_PROVINCES.keys():
        refuse(name, "unknown_province", "a 2-digit province code (old or new)"
               + (", or VN for the nation" if allow_national else ""))
    return value


def year(name, value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        refuse(name, "invalid_type", "a year, e.g. 2026")
    if isinstance(value, bool) or not 1995 <= number <= 2100:
        refuse(name, "invalid_range", "a year from 1995 to 2100")
    return number


def period(name, value):
    """``YYYY`` or ``YYYY-MM``: ``(first day, first day of the last month)``."""
    text = value if isinstance(value, str) else ""
    if re.fullmatch(r"\d{4}", text):
        return dt.date(int(text), 1, 1), dt.date(int(text), 12, 1)
    if re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        first = dt.date(int(text[:4]), int(text[5:]), 1)
        return first, first
    refuse(name, "invalid_period", "a year YYYY or a month YYYY-MM")


def scheme(name, value):
    if value not in SCHEMES or value == "registered":
        refuse(name, "invalid_choice", ", ".join(s for s in SCHEMES if s != "registered"))
    return value


def measure(name, value):
    if value not in MEASURES:
        refuse(name, "invalid_choice", ", ".join(MEASURES))
    return value


def target_value(name, value, kind):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        refuse(name, "invalid_range", "a number above 0")
    if kind == "coverage_rate" and value > 100:
        refuse(name, "invalid_range", "a coverage rate is a percent, at most 100")
    if kind == "new_participants" and int(value) != value:
        refuse(name, "invalid_type", "a whole number of people")
    return value


def count(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        refuse(name, "invalid_range", "a whole number above 0")
    return value
