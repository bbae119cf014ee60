"""What voluntary SI and household HI participants pay, by the rules of a date.

Each function takes the reference data and ``as_of`` and returns amounts in
integer VND together with an explanation that cites the rules used. The same
functions price a quote and check a ``contribution.paid``.
"""
from dataclasses import dataclass, field
from decimal import Decimal

from shared.envelope import coded
from shared.money import percent, vnd

HOUSEHOLD_MONTHS = (3, 6, 12)
VOLUNTARY_MONTHS = (1, 3, 6, 12)
SUPPORT_GROUPS = ("poor", "near_poor", "ethnic_minority", "other")


class RuleViolation(ValueError):
    """The request is outside what the rules allow; ``reasons`` per field."""

    def __init__(self, reasons):
        self.reasons = reasons
        super().__init__(reasons)


@dataclass
class Priced:
    amounts: dict
    explanation: list = field(default_factory=list)


def household_position_share(reference, position, as_of):
    """The share of the first member's contribution paid by member ``position``."""
    tiers = reference.rule("household_hi_tiers", as_of)
    return percent(tiers.value[min(position, len(tiers.value)) - 1]), tiers


def household_hi(reference, member_count, months, as_of):
    """Household health insurance for ``member_count`` members for ``months``."""
    reasons = {}
    if not isinstance(member_count, int) or isinstance(member_count, bool) or not 1 <= member_count <= 50:
        reasons["member_count"] = [coded("invalid_range", "1 to 50 members")]
    if months not in HOUSEHOLD_MONTHS:
        reasons["months"] = [coded("invalid_choice", "household HI is paid for 3, 6 or 12 months")]
    if reasons:
        raise RuleViolation(reasons)
    base = reference.rule("base_salary", as_of)
    rate = reference.rule("health_insurance_rate", as_of)
    first = Decimal(base.value) * percent(rate.value)
    members, total = [], 0
    explanation = [f"base salary {base.value:,} VND ({base.cite()})",
                   f"first member: {rate.value}% of the base salary = {vnd(first):,} VND a month"
                   f" ({rate.cite()})"]
    for position in range(1, member_count + 1):
        share, tiers = household_position_share(reference, position, as_of)
        monthly = vnd(first * share)
        members.append({"position": position, "monthly": monthly, "total": monthly * months})
        total += monthly * months
    explanation.append(f"members 2, 3, 4, 5+ pay 70/60/50/40% of the first ({tiers.cite()})")
    return Priced({"members": members, "total": total}, explanation)


def voluntary_si(reference, declared_income, months, support_group, as_of, support_months_used=0):
    """Voluntary SI on a chosen income, less the state support of the group.

    Support is given for at most ``voluntary_si_support_max_months`` months in a
    lifetime: ``support_months_used`` are those already supported, so only the
    first months of this payment that still fit are supported.
    """
    reasons = {}
    poverty_line = reference.rule("rural_poverty_line", as_of)
    base = reference.rule("base_salary", as_of)
    cap = reference.value("voluntary_si_income_cap_multiple", as_of) * base.value
    if not isinstance(declared_income, int) or isinstance(declared_income, bool):
        reasons["declared_income"] = [coded("invalid_type", "an integer number of VND")]
    elif not poverty_line.value <= declared_income <= cap:
        reasons["declared_income"] = [coded(
            "invalid_range", f"from the rural poverty line {poverty_line.value:,} to 20 times the"
            f" base salary {cap:,} VND")]
    if months not in VOLUNTARY_MONTHS:
        reasons["months"] = [coded("invalid_choice", "paid for 1, 3, 6 or 12 months")]
    if support_group not in SUPPORT_GROUPS:
        reasons["support_group"] = [coded("invalid_choice", ", ".join(SUPPORT_GROUPS))]
    if reasons:
        raise RuleViolation(reasons)
    rate = reference.rule("voluntary_si_rate", as_of)
    support = reference.rule("voluntary_si_support", as_of)
    gross = vnd(Decimal(declared_income) * percent(rate.value))
    state_support = vnd(Decimal(poverty_line.value) * percent(rate.value)
                        * percent(support.value[support_group]))
    payable = gross - state_support
    limit = reference.rule("voluntary_si_support_max_months", as_of)
    supported = max(0, min(months, limit.value - support_months_used))
    total = payable * supported + gross * (months - supported)
    explanation = [
        f"contribution {rate.value}% of the declared income {declared_income:,} = {gross:,} VND"
        f" a month ({rate.cite()})",
        f"state support for '{support_group}': {support.value[support_group]}% of {rate.value}% of"
        f" the rural poverty line {poverty_line.value:,} = {state_support:,} VND a month"
        f" ({support.cite()}; poverty line: {poverty_line.cite()})",
        f"support for at most {limit.value} months in a lifetime ({limit.cite()}):"
        f" {support_months_used} used before, {supported} of these {months} months supported"]
    return Priced(
        {"monthly_gross": gross, "monthly_state_support": state_support,
         "monthly_payable": payable, "total_payable": total, "supported_months": supported},
        explanation)
