"""Lump-sum social insurance (Law 58/2014/QH13 Art. 60, Resolution 93/2015/QH13; Law 41/2024/QH15 Art. 70-71).

Who may take one depends on the claim date; the amount counts months of the
average contribution wage for each year, less for years before 2014. Proof of
illness, emigration or lost capacity is checked by the caller; the rule takes
the reason as given.
"""
import datetime as dt
from decimal import Decimal

from services.benefits.domain.decision import APPROVED, Decision, deceased, law_period, not_in_data, rejected
from services.benefits.domain.history import (average_wage, counted_years, history_reasons, month_index,
                                              plain, years_and_months)
from services.benefits.domain.retirement import retirement_age
from shared.envelope import coded
from shared.money import percent, vnd
from shared.reference import OutOfRange

KIND = "lump_sum"
REASONS = ("retirement_age", "settling_abroad", "serious_illness", "lost_capacity", "out_of_system")


def lump_sum(reference, person, months, claim_date, reason, lost_capacity_percent=None,
             months_out_of_system=None):
    """Decide a lump-sum claim: a ``Decision`` with ``lump_sum_amount``.

    ``months_out_of_system`` defaults to the whole months between the last
    contribution month and the claim's month.
    """
    try:
        return _decide(reference, person, months, claim_date, reason, lost_capacity_percent,
                       months_out_of_system)
    except OutOfRange as gap:
        return not_in_data(KIND, claim_date, gap)


def months_since_last_contribution(months, claim_date):
    """Whole calendar months between the last contribution month and the claim's month."""
    return month_index(claim_date) - max(month_index(row.month) for row in months) - 1


def lump_sum_amount(reference, months, as_of):
    """The lump sum for ``months`` by the rules of ``as_of``: ``(int VND, [sentences])``."""
    average = average_wage(months)
    unrevalued = (f"average contribution wage {vnd(average):,} VND over {len(months)} months; past wages"
                  " are not revalued: the yearly coefficients are not in the data")
    if len(months) < 12:
        rule = reference.rule("lump_sum_under_one_year", as_of)
        wages = sum(row.wage for row in months)
        paid = vnd(Decimal(wages) * percent(rule.value["contribution_percent"]))
        cap = vnd(average * rule.value["max_months_of_average_wage"])
        return min(paid, cap), [unrevalued, (
            f"under one year ({len(months)} months): {rule.value['contribution_percent']}% of the"
            f" contribution wages {wages:,} = {paid:,} VND, at most"
            f" {rule.value['max_months_of_average_wage']} months of the average wage = {cap:,} VND:"
            f" {min(paid, cap):,} VND ({rule.cite()})")]
    rule = reference.rule("lump_sum_months_per_year", as_of)
    split = dt.date.fromisoformat(rule.value["split"])
    before = sum(1 for row in months if row.month < split)
    whole, odd = divmod(before, 12)
    after_years, after_sentence = counted_years(reference, len(months) - before + odd, as_of)
    wage_months = (Decimal(rule.value["before_split"]) * whole
                   + Decimal(rule.value["from_split"]) * after_years)
    amount = vnd(average * wage_months)
    return amount, [unrevalued, (
        f"{before} months before {split.isoformat()}: {whole} whole years at {rule.value['before_split']}"
        f" months of wage each; the {odd} odd months move to the part from {split.isoformat()}"
        f" ({rule.cite()})"),
        f"from {split.isoformat()}, with the moved months: {after_sentence}",
        f"{rule.value['before_split']} × {whole} + {rule.value['from_split']} × {plain(after_years)} ="
        f" {plain(wage_months)} months × {vnd(average):,} = {amount:,} VND"]


def _refusal(reference, person, months, claim_date, reason, lost, out, explanation):
    """None when ``reason`` gives a lump sum on ``claim_date``, else the ``not_eligible`` reason."""
    rule = reference.rule("lump_sum_eligibility", claim_date)
    terms, count = rule.value, len(months)
    if reason not in terms["reasons"]:
        return coded("not_eligible", f"{reason!r} does not give a lump sum on {claim_date.isoformat()};"
                     f" the reasons then are {', '.join(terms['reasons'])} ({rule.cite()})")
    if reason == "retirement_age":
        age = retirement_age(reference, person.sex, person.date_of_birth)
        explanation.append(age.sentence(person.sex, person.date_of_birth))
        if age.reached_on > claim_date:
            return coded("not_eligible", f"retirement age is reached on {age.reached_on.isoformat()},"
                         f" after the claim")
        if count >= terms["retirement_age_under_years"] * 12:
            return coded("not_eligible", f"{years_and_months(count)}: at retirement age a lump sum is for"
                         f" under {terms['retirement_age_under_years']} years; a pension is due"
                         f" instead ({rule.cite()})")
    if reason == "lost_capacity" and not (isinstance(lost, int)
                                          and lost >= terms["lost_capacity_min_percent"]):
        return coded("not_eligible", f"a lump sum for lost working capacity needs at least"
                     f" {terms['lost_capacity_min_percent']}%, the claim gives {lost} ({rule.cite()})")
    if reason == "out_of_system":
        explanation.append(f"{out} months out of the system before the claim")
        before = terms["out_of_system_contributed_before"]
        if out < terms["out_of_system_months"] or count >= terms["out_of_system_under_years"] * 12:
            return coded("not_eligible", f"out of the system needs {terms['out_of_system_months']}"
                         f" months out (the person has {out}) and under"
                         f" {terms['out_of_system_under_years']} years of contributions (the person"
                         f" has {years_and_months(count)}) ({rule.cite()})")
        if before and not any(row.month < dt.date.fromisoformat(before) for row in months):
            return coded("not_eligible", f"out of the system is only for people who contributed before"
                         f" {before} ({rule.cite()})")
    explanation.append(f"'{reason}' gives a lump sum ({rule.cite()})")
    return None


def _decide(reference, person, months, claim_date, reason, lost, out):
    period = law_period(reference, "si_law", claim_date)
    explanation = [period.sentence]
    problems = history_reasons(person, months)
    if reason not in REASONS:
        problems.append(coded("invalid_reason", f"the reason is one of {', '.join(REASONS)}"))
    if not months:
        problems.append(coded("insufficient_contributions", "no contribution months left to settle"))
    if problems:
        return rejected(KIND, period, explanation, *problems)
    refusal = deceased(KIND, person, claim_date, period, explanation)
    if refusal:
        return refusal
    out = months_since_last_contribution(months, claim_date) if out is None else out
    reason_refused = _refusal(reference, person, months, claim_date, reason, lost, out, explanation)
    if reason_refused:
        return rejected(KIND, period, explanation, reason_refused)
    amount, sentences = lump_sum_amount(reference, months, claim_date)
    explanation += sentences
    if any(row.kind == "voluntary_si" for row in months):
        explanation.append("state support paid towards voluntary contributions is not deducted: it is"
                           " not in the history given")
    return Decision(KIND, APPROVED, lump_sum_amount=amount, explanation=explanation,
                    rule_period=period.name)
