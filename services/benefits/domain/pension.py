"""Monthly pension (Law 58/2014/QH13 Art. 54-56; Law 41/2024/QH15 Art. 64-66).

The rules of the claim date apply. The average contribution wage is the plain
mean of the months given: the yearly revaluation coefficients are not in the
data, and the explanation says so.
"""
from decimal import Decimal

from services.benefits.domain.decision import APPROVED, Decision, deceased, law_period, not_in_data, rejected
from services.benefits.domain.history import (average_wage, counted_years, history_reasons, plain,
                                              years_and_months)
from services.benefits.domain.retirement import early_retirement, retirement_age
from shared.envelope import coded
from shared.money import percent, vnd
from shared.reference import OutOfRange

KIND = "pension"


def pension(reference, person, months, claim_date, early_retirement=None):
    """Decide a pension claim: a ``Decision`` with the monthly amount and its first month.

    ``early_retirement`` is None or ``{"reason": "reduced_capacity", "lost_capacity_percent": int}``.
    """
    try:
        return _decide(reference, person, months, claim_date, early_retirement)
    except OutOfRange as gap:
        return not_in_data(KIND, claim_date, gap)


def pension_entitlement(reference, person, months, on):
    """Whether the person qualifies for a normal pension on ``on``: ``(bool, sentence)``."""
    age = retirement_age(reference, person.sex, person.date_of_birth)
    minimum = reference.rule("pension_minimum_years", on)
    enough = len(months) >= minimum.value * 12
    return age.reached_on <= on and enough, (
        f"on {on.isoformat()} the person {'has' if age.reached_on <= on else 'has not'} reached"
        f" retirement age ({age.sentence(person.sex, person.date_of_birth)}) and has"
        f" {years_and_months(len(months))} of contributions, {minimum.value} years needed ({minimum.cite()})")


def pension_rate(reference, sex, month_count, as_of):
    """The rate in percent for ``month_count`` months of contributions: ``(Decimal, [sentences])``."""
    years, years_sentence = counted_years(reference, month_count, as_of)
    rule = reference.rule("pension_rate", as_of)
    band = max((b for b in rule.value[sex] if b["base_years"] <= years), key=lambda b: b["base_years"])
    further = years - band["base_years"]
    uncapped = Decimal(band["base_percent"]) + Decimal(band["per_year"]) * further
    cap = Decimal(rule.value["max_percent"])
    capped = f", capped at {plain(cap)}%" if uncapped > cap else ""
    return min(uncapped, cap), [years_sentence, (
        f"rate {band['base_percent']}% for {band['base_years']} years + {band['per_year']}% ×"
        f" {plain(further)} years = {plain(uncapped)}%{capped} ({rule.cite()})")]


def early_reduction(reference, months_early, as_of):
    """Rate points lost for retiring ``months_early`` months early: ``(Decimal, sentence)``."""
    rule = reference.rule("early_retirement_reduction", as_of)
    years, odd = divmod(months_early, 12)
    points = Decimal(rule.value["percent_per_year"]) * years
    if odd >= rule.value["odd_months_from"]:
        points += Decimal(rule.value["percent_for_odd_months"])
    return points, (f"{years} years {odd} months early: {rule.value['percent_per_year']}% a year,"
                    f" {rule.value['percent_for_odd_months']}% for {rule.value['odd_months_from']} odd"
                    f" months or more: rate reduced by {plain(points)}% ({rule.cite()})")


def _early(reference, person, claim_date, request, explanation):
    """``(points lost, None)`` for an allowed early retirement, else ``(None, reason)``."""
    request = request if isinstance(request, dict) else {}
    lost = request.get("lost_capacity_percent")
    if request.get("reason") != "reduced_capacity" or not isinstance(lost, int) or not 0 <= lost <= 100:
        return None, coded("invalid_early_retirement", "early retirement is asked as {'reason':"
                           " 'reduced_capacity', 'lost_capacity_percent': 0 to 100}")
    plan = early_retirement(reference, person.sex, person.date_of_birth, claim_date, lost)
    explanation.append(plan.sentence)
    if not plan.allowed:
        return None, coded("below_retirement_age", "the person is below retirement age and the"
                           " early retirement asked for is not allowed: " + plan.sentence)
    points, sentence = early_reduction(reference, plan.months_early, claim_date)
    explanation.append(sentence)
    return points, None


def _floor(reference, months, monthly, claim_date, explanation):
    rule = reference.rule("pension_floor", claim_date)
    base = reference.rule("base_salary", claim_date)
    if monthly >= base.value:
        return monthly
    compulsory = sum(1 for row in months if row.kind == "compulsory")
    needed = rule.value["min_compulsory_years"] * 12
    if compulsory < needed:
        explanation.append(f"no floor: {monthly:,} VND is below the base salary {base.value:,} VND but"
                           f" the floor needs {needed} months of compulsory contributions, the person"
                           f" has {compulsory} ({rule.cite()})")
        return monthly
    explanation.append(f"floor applied: {monthly:,} VND is raised to the base salary {base.value:,} VND"
                       f" for {compulsory} months of compulsory contributions ({rule.cite()};"
                       f" base salary: {base.cite()})")
    return base.value


def _decide(reference, person, months, claim_date, early_request):
    period = law_period(reference, "si_law", claim_date)
    explanation = [period.sentence]
    problems = history_reasons(person, months)
    if problems:
        return rejected(KIND, period, explanation, *problems)
    refusal = deceased(KIND, person, claim_date, period, explanation)
    if refusal:
        return refusal
    age = retirement_age(reference, person.sex, person.date_of_birth)
    explanation.append(age.sentence(person.sex, person.date_of_birth))
    points, start = Decimal(0), max(age.retirement_month, claim_date.replace(day=1))
    if age.reached_on > claim_date:
        if early_request is None:
            return rejected(KIND, period, explanation, coded(
                "below_retirement_age", f"retirement age is reached on {age.reached_on.isoformat()},"
                f" after the claim of {claim_date.isoformat()}"))
        points, reason = _early(reference, person, claim_date, early_request, explanation)
        if reason:
            return rejected(KIND, period, explanation, reason)
        start = claim_date.replace(day=1)
    minimum = reference.rule("pension_minimum_years", claim_date)
    if len(months) < minimum.value * 12:
        return rejected(KIND, period, explanation, coded(
            "insufficient_contributions", f"{years_and_months(len(months))} of contributions;"
            f" a pension needs {minimum.value * 12} months ({minimum.value} years, {minimum.cite()})"))
    rate, sentences = pension_rate(reference, person.sex, len(months), claim_date)
    explanation += sentences
    if points:
        explanation.append(f"rate after early retirement: {plain(rate)}% - {plain(points)}% ="
                           f" {plain(rate - points)}%")
        rate -= points
    average = average_wage(months)
    monthly = vnd(average * percent(rate))
    explanation += [f"average contribution wage {vnd(average):,} VND over {len(months)} months; past"
                    " wages are not revalued: the yearly coefficients are not in the data",
                    f"monthly pension {plain(rate)}% × {vnd(average):,} = {monthly:,} VND"]
    monthly = _floor(reference, months, monthly, claim_date, explanation)
    return Decision(KIND, APPROVED, monthly_amount=monthly, start_month=start,
                    explanation=explanation, rule_period=period.name)
