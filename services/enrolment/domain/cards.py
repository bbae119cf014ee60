"""Health insurance cards: the group, the card code, when a card is valid, what it replaces.

Pure rules, no I/O. The group table is dated reference data (``hi_groups``);
validity follows Article 16 of the Law on Health Insurance as amended by Law
46/2014/QH13, and a person holds one valid card at a time (Art. 16(2)).
"""
import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

from services.enrolment.domain.contributions import RuleViolation
from shared.envelope import coded
from shared.provinces import NEW_PROVINCES, OLD_PROVINCES

GROUP_CODE = re.compile(r"[A-Z]{2}")
SI_CODE = re.compile(r"[0-9]{10}")
PARTICIPATIONS = ("employment", "state", "sponsor", "household", "voluntary")
WAITING_PARTICIPATIONS = ("household", "voluntary")
WAITING_DAYS = 30
LAPSE_MONTHS = 3
CHILD_MONTHS = 72
DEFAULT_EMPLOYMENT_GROUP = "DN"
VALIDITY_BASIS = "Law 25/2008/QH12 Art. 16, as amended by Law 46/2014/QH13"


@dataclass
class Validity:
    valid_from: dt.date
    valid_to: dt.date
    explanation: list = field(default_factory=list)


def hi_group(reference, group_code, as_of):
    """The HI group ``group_code`` in force on ``as_of``: its row, with ``group_code`` and ``basis``."""
    groups = reference.rule("hi_groups", as_of)
    row = groups.value.get(group_code) if isinstance(group_code, str) else None
    if row is None:
        raise RuleViolation({"group_code": [coded(
            "unknown_group", f"{group_code!r} is not a health insurance group on {as_of.isoformat()}")]})
    return dict(row, group_code=group_code, basis=groups.cite())


def employment_group(reference, employer_kind, group_code, as_of):
    """The HI group an employment gives: from the kind of employer, else the group named, else DN.

    Returns ``(group_code, explanation)``; a group that contradicts the kind is refused.
    """
    if employer_kind is None:
        chosen = group_code or DEFAULT_EMPLOYMENT_GROUP
        return chosen, f"HI group {chosen} ({'as declared' if group_code else 'the default'})"
    kinds = reference.rule("employer_kind_groups", as_of)
    kind_group = kinds.value.get(employer_kind)
    if kind_group is None:
        raise RuleViolation({"employer_kind": [coded(
            "invalid_choice", "one of " + ", ".join(sorted(kinds.value)))]})
    if group_code and group_code != kind_group:
        raise RuleViolation({"group_code": [coded(
            "contradicts_employer_kind", f"a {employer_kind.replace('_', ' ')} gives group {kind_group}")]})
    return kind_group, f"HI group {kind_group} for a {employer_kind.replace('_', ' ')} ({kinds.cite()})"


def card_number(group_code, benefit_level, province_code, si_code):
    """The 15-character HI card code: group code, benefit level, province code, SI code."""
    reasons = {}
    if not (isinstance(group_code, str) and GROUP_CODE.fullmatch(group_code)):
        reasons["group_code"] = [coded("invalid_format", "two capital letters, e.g. GD")]
    if not isinstance(benefit_level, int) or isinstance(benefit_level, bool) or not 1 <= benefit_level <= 5:
        reasons["benefit_level"] = [coded("invalid_range", "a benefit level from 1 to 5")]
    if not isinstance(province_code, str) or province_code not in OLD_PROVINCES.keys() | NEW_PROVINCES.keys():
        reasons["province_code"] = [coded("unknown_province", "a 2-digit province code, e.g. 42")]
    if not (isinstance(si_code, str) and SI_CODE.fullmatch(si_code)):
        reasons["si_code"] = [coded("invalid_format", "an SI code is exactly 10 digits")]
    if reasons:
        raise RuleViolation(reasons)
    return f"{group_code}{benefit_level}{province_code}{si_code}"


def card_validity(*, paid_on, months, previous_valid_to, participation, date_of_birth, as_of=None):
    """The first and last day of a card paid on ``paid_on`` for ``months``.

    ``previous_valid_to`` is the last day of the person's previous card, None for a first
    card; ``as_of`` is the day of the decision (default ``paid_on``), and a payment after it
    is refused. ``months`` may be None for a child under 6, whose card runs to school age.
    ``valid_to`` is ``valid_from`` moved on ``months`` calendar months, less one day; a day
    past the end of the target month becomes its last day, so 31 Jan 2025 + 1 month is
    28 Feb and the card ends on 27 Feb.
    """
    as_of = paid_on if as_of is None else as_of
    reasons = _validity_errors(paid_on, months, previous_valid_to, participation, date_of_birth, as_of)
    if reasons:
        raise RuleViolation(reasons)
    explanation = []
    if previous_valid_to is not None and paid_on <= _add_months(previous_valid_to, LAPSE_MONTHS):
        valid_from = max(previous_valid_to + dt.timedelta(days=1), paid_on)
        explanation.append(
            f"continuous participation: the previous card ended on {previous_valid_to.isoformat()}, "
            + ("so this one starts the next day" if valid_from > paid_on else
               f"paid within {LAPSE_MONTHS} months after, so valid from the day of payment")
            + f" ({VALIDITY_BASIS})")
    elif participation in WAITING_PARTICIPATIONS:
        valid_from = paid_on + dt.timedelta(days=WAITING_DAYS)
        history = "first card" if previous_valid_to is None else \
            f"lapsed {LAPSE_MONTHS}+ months since {previous_valid_to.isoformat()}"
        explanation.append(f"{participation} participation, {history}: valid {WAITING_DAYS} days after"
                           f" payment on {paid_on.isoformat()} ({VALIDITY_BASIS})")
    else:
        valid_from = paid_on
        explanation.append(f"{participation} participation: valid from {paid_on.isoformat()}")
    school_age = date_of_birth and _add_months(date_of_birth, CHILD_MONTHS)
    if school_age and valid_from < school_age:
        # A child who turns 6 before the school year starts keeps the card until 30 Sep.
        valid_to = max(school_age - dt.timedelta(days=1), dt.date(school_age.year, 9, 30))
        explanation.append(f"child under 6 (born {date_of_birth.isoformat()}): valid to the day before the"
                           f" 6th birthday, or to 30 Sep if that comes later ({VALIDITY_BASIS})")
    elif months is None:
        raise RuleViolation({"months": [coded("required", "months paid for, except for a child under 6")]})
    else:
        valid_to = _add_months(valid_from, months) - dt.timedelta(days=1)
        explanation.append(f"{months} months paid: valid to {valid_to.isoformat()}")
    return Validity(valid_from, valid_to, explanation)


def supersedes(current_cards, new_card):
    """Card numbers of ``current_cards`` still valid on or after ``new_card`` starts.

    Cards are dicts with ``card_number``, ``valid_from`` and ``valid_to`` (dates). A renewal
    keeps its card number, so the new card itself (same number and start) is left out.
    """
    replaced = []
    for card in sorted(current_cards, key=lambda c: c["valid_from"]):
        same = (card["card_number"], card["valid_from"]) == (new_card["card_number"], new_card["valid_from"])
        if not same and card["valid_to"] >= new_card["valid_from"] and card["card_number"] not in replaced:
            replaced.append(card["card_number"])
    return replaced


def _validity_errors(paid_on, months, previous_valid_to, participation, date_of_birth, as_of):
    reasons = {}
    for name, value, optional in (("paid_on", paid_on, False), ("as_of", as_of, False),
                                  ("previous_valid_to", previous_valid_to, True),
                                  ("date_of_birth", date_of_birth, True)):
        if not (_is_date(value) or optional and value is None):
            reasons[name] = [coded("invalid_type", "a date")]
    if months is not None and (not isinstance(months, int) or isinstance(months, bool) or months < 1):
        reasons["months"] = [coded("invalid_range", "a whole number of months, at least 1")]
    if participation not in PARTICIPATIONS:
        reasons["participation"] = [coded("invalid_choice", ", ".join(PARTICIPATIONS))]
    if reasons:
        return reasons
    if paid_on > as_of:
        reasons["paid_on"] = [coded("in_future", f"the payment is dated after {as_of.isoformat()}")]
    if date_of_birth is not None and date_of_birth > paid_on:
        reasons["date_of_birth"] = [coded("after_payment", "the date of birth is after the payment")]
    return reasons


def _is_date(value):
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _add_months(day, months):
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
