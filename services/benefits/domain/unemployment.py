"""Unemployment benefit (Law on Employment 38/2013/QH13 Art. 46-50; Law on Employment 74/2025/QH15).

A month counts towards unemployment insurance when it carries a ``ui_wage``.
The rules of the claim date apply; the cap uses the regional minimum wage of
the last employment's region in force on the day it ended.
"""
from decimal import Decimal

from services.benefits.domain.decision import APPROVED, Decision, deceased, law_period, not_in_data, rejected
from services.benefits.domain.history import (add_months, first_of_next_month, history_reasons,
                                              month_label)
from services.benefits.domain.pension import pension_entitlement
from shared.envelope import coded
from shared.money import percent, vnd
from shared.reference import OutOfRange

KIND = "unemployment"
REGIONS = (1, 2, 3, 4)


def unemployment(reference, person, employments, months, claim_date):
    """Decide an unemployment claim: monthly amount, number of months and the first month."""
    try:
        return _decide(reference, person, employments, months, claim_date)
    except OutOfRange as gap:
        return not_in_data(KIND, claim_date, gap)


def ui_duration(reference, ui_month_count, as_of):
    """Months of benefit for ``ui_month_count`` months of UI contributions: ``(int, sentence)``."""
    rule = reference.rule("ui_duration", as_of)
    terms = rule.value
    beyond = max(0, ui_month_count - terms["first_up_to_contribution_months"])
    further = beyond // terms["further_contribution_months"]
    duration = min(terms["first_months"] + further, terms["max_months"])
    return duration, (
        f"{ui_month_count} months of UI contributions: {terms['first_months']} months for up to"
        f" {terms['first_up_to_contribution_months']}, + 1 for each further full"
        f" {terms['further_contribution_months']} months ({further}), at most {terms['max_months']}:"
        f" {duration} months ({rule.cite()})")


def monthly_benefit(reference, ui_months, region, ended_on, as_of):
    """The monthly benefit for the UI months up to the end of the job: ``(int VND, [sentences])``."""
    rule = reference.rule("ui_benefit", as_of)
    terms = rule.value
    last = sorted(ui_months, key=lambda row: row.month)[-terms["average_of_last_months"]:]
    average = Decimal(sum(row.ui_wage for row in last)) / len(last)
    amount = vnd(average * percent(terms["percent"]))
    minimum = reference.rule("regional_minimum_wage", ended_on)
    cap = minimum.value[str(region)] * terms["cap_multiple_of_regional_minimum_wage"]
    sentences = [f"{terms['percent']}% of the average UI wage {vnd(average):,} VND of the last {len(last)}"
                 f" contributed months ({month_label(last[0].month)} to {month_label(last[-1].month)})"
                 f" = {amount:,} VND ({rule.cite()})"]
    if amount > cap:
        sentences.append(f"cap applied: at most {terms['cap_multiple_of_regional_minimum_wage']} × the"
                         f" region {region} minimum wage {minimum.value[str(region)]:,} = {cap:,} VND"
                         f" ({minimum.cite()})")
    return min(amount, cap), sentences


def _employment_reasons(employments):
    return [coded("invalid_history", f"employment at {job.employer_code}: region 1 to 4 and an end"
                  " not before its start") for job in employments
            if job.region not in REGIONS or (job.end_date and job.end_date < job.start_date)]


def _qualifying(reference, ui_months, ended_on, claim_date, explanation):
    """None when enough UI months fall in the window before the job ended, else the reason."""
    rule = reference.rule("ui_qualifying", claim_date)
    terms = rule.value
    newest = add_months(ended_on.replace(day=1), 0 if terms["window_includes_end_month"] else -1)
    oldest = add_months(newest, 1 - terms["window_months"])
    count = sum(1 for row in ui_months if oldest <= row.month <= newest)
    explanation.append(f"{count} months of UI contributions from {month_label(oldest)} to"
                       f" {month_label(newest)}, the {terms['window_months']} months up to the end of the"
                       f" job; {terms['min_months']} needed ({rule.cite()})")
    if count >= terms["min_months"]:
        return None
    return coded("insufficient_ui_contributions", f"{count} months of UI contributions in"
                 f" {month_label(oldest)} to {month_label(newest)}; {terms['min_months']} needed")


def _decide(reference, person, employments, months, claim_date):
    period = law_period(reference, "employment_law", claim_date)
    explanation = [period.sentence]
    problems = history_reasons(person, months) + _employment_reasons(employments)
    if not employments:
        problems.append(coded("no_employment", "unemployment benefit needs the employment that ended"))
    if problems:
        return rejected(KIND, period, explanation, *problems)
    refusal = deceased(KIND, person, claim_date, period, explanation)
    if refusal:
        return refusal
    still_open = [job for job in employments if job.end_date is None or job.end_date > claim_date]
    if still_open:
        return rejected(KIND, period, explanation, *(coded(
            "still_employed", f"the employment at {job.employer_code} from {job.start_date.isoformat()}"
            " has not ended by the claim") for job in still_open))
    last = max(employments, key=lambda job: job.end_date)
    explanation.append(f"last employment at {last.employer_code} (region {last.region}) ended on"
                       f" {last.end_date.isoformat()}")
    ui_months = [row for row in months if row.ui_wage is not None]
    reasons = [_qualifying(reference, ui_months, last.end_date, claim_date, explanation)]
    deadline = reference.rule("ui_claim_deadline_months", claim_date)
    if claim_date > add_months(last.end_date, deadline.value):
        reasons.append(coded("late_claim", f"claimed on {claim_date.isoformat()}, more than"
                             f" {deadline.value} months after the job ended ({deadline.cite()})"))
    excluded = reference.rule("ui_refused_when_pension_eligible", claim_date)
    if excluded.value:
        entitled, sentence = pension_entitlement(reference, person, months, claim_date)
        explanation.append(sentence)
        if entitled:
            reasons.append(coded("pension_eligible", f"the person qualifies for a pension on the claim"
                                 f" date ({excluded.cite()})"))
    reasons = [reason for reason in reasons if reason]
    if reasons:
        return rejected(KIND, period, explanation, *reasons)
    up_to_end = [row for row in ui_months if row.month <= last.end_date]
    monthly, sentences = monthly_benefit(reference, up_to_end, last.region, last.end_date, claim_date)
    duration, duration_sentence = ui_duration(reference, len(ui_months), claim_date)
    explanation += sentences + [duration_sentence]
    return Decision(KIND, APPROVED, monthly_amount=monthly, duration_months=duration,
                    start_month=first_of_next_month(claim_date), explanation=explanation,
                    rule_period=period.name)
