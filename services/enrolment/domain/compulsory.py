"""What an employee and the employer pay each month for compulsory SI, HI and UI.

The contribution wage is the declared salary raised to the floor (the regional
minimum wage of the employer's region, never below the base salary of the day)
and capped: 20 times the base salary for SI and HI, 20 times the regional
minimum wage for UI. The data holds regional minimum wages from 2020 only;
before that the floor and the UI cap fall back to the base salary, as the
domain reference says. Whether the person is in each scheme at all (contract
length, group) is for the caller to decide.
"""
from decimal import Decimal

from services.enrolment.domain.contributions import Priced, RuleViolation
from shared.envelope import coded
from shared.money import percent, vnd
from shared.reference import OutOfRange

REGIONS = (1, 2, 3, 4)
EMPLOYER_SI_PARTS = ("retirement_survivors", "sickness_maternity", "occupational_accident")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _region_reasons(region):
    if _is_int(region) and region in REGIONS:
        return {}
    return {"region": [coded("invalid_choice", "minimum-wage region 1, 2, 3 or 4")]}


def _input_reasons(salary, region):
    reasons = _region_reasons(region)
    if not _is_int(salary):
        reasons["salary"] = [coded("invalid_type", "an integer number of VND")]
    elif salary <= 0:
        reasons["salary"] = [coded("invalid_range", "a salary above 0 VND")]
    return reasons


def _regional_minimum(reference, as_of):
    """The regional minimum wage row in force, or None before the first row of the data."""
    try:
        return reference.rule("regional_minimum_wage", as_of)
    except OutOfRange:
        return None


def wage_floor(reference, region, month):
    """The lowest wage in ``region`` on ``month`` and the rule that sets it: ``(amount, Rule)``."""
    reasons = _region_reasons(region)
    if reasons:
        raise RuleViolation(reasons)
    base = reference.rule("base_salary", month)
    regional = _regional_minimum(reference, month)
    if regional is None or regional.value[str(region)] < base.value:
        return base.value, base
    return regional.value[str(region)], regional


def _floor_name(rule, region):
    if rule.name == "base_salary":
        return "the base salary"
    return f"the regional minimum wage of region {region}"


def _share(wage, rate):
    return vnd(Decimal(wage) * percent(rate))


def monthly_contribution(reference, salary, region, month):
    """Compulsory SI, HI and UI on ``salary`` for one month, employee and employer shares.

    ``month`` may be any day of the month: the rules in force on its first day apply.
    """
    reasons = _input_reasons(salary, region)
    if reasons:
        raise RuleViolation(reasons)
    month = month.replace(day=1)
    base = reference.rule("base_salary", month)
    floor, floor_rule = wage_floor(reference, region, month)
    regional = _regional_minimum(reference, month)
    si_cap_rule = reference.rule("si_hi_wage_cap_multiple", month)
    ui_cap_rule = reference.rule("ui_wage_cap_multiple", month)
    ui_level, ui_level_name, ui_note = (
        (regional.value[str(region)], "the regional minimum wage", "") if regional
        else (base.value, "the base salary", ", as the data has no regional minimum wage then"))
    si_cap, ui_cap = si_cap_rule.value * base.value, ui_cap_rule.value * ui_level
    wage = max(salary, floor)
    si_wage, ui_wage = min(wage, si_cap), min(wage, ui_cap)
    si, hi, ui = (reference.rule(name, month) for name in
                  ("compulsory_si_rates", "health_employment_rates", "unemployment_rates"))
    employee = {"retirement_survivors": _share(si_wage, si.value["employee"]["retirement_survivors"]),
                "health": _share(si_wage, hi.value["employee"]),
                "unemployment": _share(ui_wage, ui.value["employee"])}
    employer = {part: _share(si_wage, si.value["employer"][part]) for part in EMPLOYER_SI_PARTS}
    employer.update(health=_share(si_wage, hi.value["employer"]),
                    unemployment=_share(ui_wage, ui.value["employer"]))
    employee_total, employer_total = sum(employee.values()), sum(employer.values())
    raised = (f"declared salary {salary:,} VND is below the floor: the contribution wage is raised"
              f" to {floor:,} VND" if salary < floor else
              f"declared salary {salary:,} VND is at least the floor")
    explanation = [
        f"floor: {_floor_name(floor_rule, region)} {floor:,} VND ({floor_rule.cite()})",
        raised,
        f"SI and HI contribution wage {si_wage:,} VND, at most {si_cap_rule.value} times the base"
        f" salary {base.value:,} = {si_cap:,} VND ({si_cap_rule.cite()}; base salary: {base.cite()})",
        f"UI contribution wage {ui_wage:,} VND, at most {ui_cap_rule.value} times {ui_level_name}"
        f" {ui_level:,} = {ui_cap:,} VND{ui_note} ({ui_cap_rule.cite()})",
        f"compulsory SI: employee {si.value['employee']['retirement_survivors']}% ="
        f" {employee['retirement_survivors']:,} VND; employer "
        + " + ".join(f"{si.value['employer'][p]}% ({p.replace('_', ' ')}) = {employer[p]:,}"
                     for p in EMPLOYER_SI_PARTS) + f" VND ({si.cite()})",
        f"health insurance: employee {hi.value['employee']}% = {employee['health']:,} VND,"
        f" employer {hi.value['employer']}% = {employer['health']:,} VND ({hi.cite()})",
        f"unemployment insurance: employee {ui.value['employee']}% = {employee['unemployment']:,} VND,"
        f" employer {ui.value['employer']}% = {employer['unemployment']:,} VND ({ui.cite()})",
    ]
    return Priced({"month": f"{month.year:04d}-{month.month:02d}", "declared_salary": salary,
                   "contribution_wage_si": si_wage, "contribution_wage_ui": ui_wage,
                   "employee": employee, "employer": employer, "employee_total": employee_total,
                   "employer_total": employer_total, "total": employee_total + employer_total},
                  explanation)


def salary_below_minimum(reference, salary, region, day):
    """None, or the ``below_minimum_wage`` reason when ``salary`` on ``day`` is under the floor.

    Intake uses it for employment.started and employment.changed: salaries are at
    least the regional minimum wage of the region in force on the date.
    """
    reasons = _input_reasons(salary, region)
    if reasons:
        raise RuleViolation(reasons)
    floor, rule = wage_floor(reference, region, day)
    if salary >= floor:
        return None
    return coded("below_minimum_wage", f"{salary:,} VND is below {_floor_name(rule, region)},"
                 f" {floor:,} VND on {day.isoformat()} ({rule.cite()})")
