"""A person's record as the benefit rules read it: who they are, what they paid, where they worked.

The caller passes only contribution months not already settled by an earlier
lump sum, one row per month. Months are counted by calendar month; the odd
months of a period count as half or a whole year by the rule in the data.
"""
import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from shared.envelope import coded

SEXES = ("male", "female")
CONTRIBUTION_KINDS = ("compulsory", "voluntary_si")


@dataclass(frozen=True)
class Person:
    sex: str
    date_of_birth: dt.date
    date_of_death: dt.date | None = None


@dataclass(frozen=True)
class ContributionMonth:
    month: dt.date
    kind: str
    wage: int
    ui_wage: int | None = None


@dataclass(frozen=True)
class Employment:
    employer_code: str
    region: int
    start_date: dt.date
    end_date: dt.date | None = None


def month_index(day):
    return day.year * 12 + day.month - 1


def add_months(day, count):
    """``day`` moved by ``count`` calendar months, kept within the month (31 Jan + 1 = 28/29 Feb)."""
    year, month = divmod(month_index(day) + count, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def first_of_next_month(day):
    return add_months(day.replace(day=1), 1)


def month_label(day):
    return f"{day.year:04d}-{day.month:02d}"


def years_and_months(count):
    years, months = divmod(count, 12)
    return f"{count} months ({years} years {months} months)"


def _positive_vnd(amount):
    return isinstance(amount, int) and not isinstance(amount, bool) and amount > 0


def history_reasons(person, months):
    """``invalid_history`` reasons for a record the rules cannot read, or an empty list."""
    reasons = []
    if person.sex not in SEXES:
        reasons.append(coded("invalid_history", f"sex must be one of {', '.join(SEXES)}"))
    seen = set()
    for row in months:
        label = month_label(row.month)
        if row.month.day != 1:
            reasons.append(coded("invalid_history", f"month {row.month.isoformat()} is not a first of month"))
        if row.kind not in CONTRIBUTION_KINDS:
            reasons.append(coded("invalid_history", f"month {label}: kind {row.kind!r} is unknown"))
        if not _positive_vnd(row.wage) or not (row.ui_wage is None or _positive_vnd(row.ui_wage)):
            reasons.append(coded("invalid_history", f"month {label}: wages are positive integers of VND"))
        if label in seen:
            reasons.append(coded("invalid_history", f"month {label} appears twice"))
        seen.add(label)
    return reasons


def counted_years(reference, month_count, as_of):
    """Years of contribution as the rates count them: ``(Decimal years, sentence)``."""
    rule = reference.rule("odd_months", as_of)
    years, odd = divmod(month_count, 12)
    extra = Decimal(0) if odd == 0 else Decimal("0.5") if odd <= rule.value["half_year_up_to"] else Decimal(1)
    counted = years + extra
    return counted, (f"{years_and_months(month_count)} count as {plain(counted)} years: 1-"
                     f"{rule.value['half_year_up_to']} odd months are half a year, more a full year"
                     f" ({rule.cite()})")


def average_wage(months):
    """The exact mean of the months' contribution wages (no revaluation)."""
    return Decimal(sum(row.wage for row in months)) / len(months)


def plain(number):
    """A Decimal as people write it: 65 not 65.0 or 6.5E+1, 30.5 as is."""
    return f"{Decimal(number).normalize():f}"
