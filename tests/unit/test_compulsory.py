"""Compulsory SI, HI and UI for employees, with the figures of the domain reference."""
import datetime as dt
import pytest

from services.enrolment.domain import REFERENCE_FILE
from services.enrolment.domain.compulsory import monthly_contribution, salary_below_minimum, wage_floor
from services.enrolment.domain.contributions import RuleViolation
from shared.reference import OutOfRange, ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
MAR_2025, JAN_2026, JUN_2015 = dt.date(2025, 3, 1), dt.date(2026, 1, 1), dt.date(2015, 6, 1)


def test_employee_pays_10_5_percent_and_employer_21_5_percent_of_a_10_000_000_salary():
    amounts = monthly_contribution(REFERENCE, 10000000, 1, MAR_2025).amounts
    assert amounts == {
        "month": "2025-03", "declared_salary": 10000000,
        "contribution_wage_si": 10000000, "contribution_wage_ui": 10000000,
        "employee": {"retirement_survivors": 800000, "health": 150000, "unemployment": 100000},
        "employer": {"retirement_survivors": 1400000, "sickness_maternity": 300000,
                     "occupational_accident": 50000, "health": 300000, "unemployment": 100000},
        "employee_total": 1050000, "employer_total": 2150000, "total": 3200000}


@pytest.mark.parametrize("salary,month,si_wage,ui_wage", [
    (60000000, MAR_2025, 20 * 2340000, 60000000),
    (120000000, MAR_2025, 20 * 2340000, 20 * 4960000),
    (100000000, dt.date(2024, 6, 1), 20 * 1800000, 20 * 4680000),
    (100000000, dt.date(2024, 7, 1), 20 * 2340000, 20 * 4960000),
])
def test_si_and_hi_wage_is_capped_at_20_base_salaries_and_ui_wage_at_20_regional_minimums(
        salary, month, si_wage, ui_wage):
    amounts = monthly_contribution(REFERENCE, salary, 1, month).amounts
    assert (amounts["contribution_wage_si"], amounts["contribution_wage_ui"]) == (si_wage, ui_wage)
    assert amounts["employee"]["retirement_survivors"] == si_wage * 8 // 100
    assert amounts["employer"]["unemployment"] == ui_wage // 100


@pytest.mark.parametrize("salary,region,month,wage", [
    (4000000, 1, MAR_2025, 4960000),
    (4000000, 1, JAN_2026, 5310000),
    (3000000, 4, MAR_2025, 3450000),
    (3000000, 4, JAN_2026, 3700000),
])
def test_a_salary_below_the_regional_minimum_wage_is_raised_to_it(salary, region, month, wage):
    priced = monthly_contribution(REFERENCE, salary, region, month)
    assert priced.amounts["declared_salary"] == salary
    assert priced.amounts["contribution_wage_si"] == priced.amounts["contribution_wage_ui"] == wage
    assert any("raised" in line and f"{wage:,}" in line for line in priced.explanation)


def test_before_2020_the_floor_and_the_ui_cap_are_the_base_salary_of_the_day():
    assert wage_floor(REFERENCE, 1, JUN_2015)[0] == 1150000
    assert wage_floor(REFERENCE, 1, JUN_2015)[1].name == "base_salary"
    amounts = monthly_contribution(REFERENCE, 3000000, 1, JUN_2015).amounts
    assert amounts["contribution_wage_si"] == amounts["contribution_wage_ui"] == 3000000
    capped = monthly_contribution(REFERENCE, 30000000, 1, JUN_2015).amounts
    assert capped["contribution_wage_si"] == capped["contribution_wage_ui"] == 20 * 1150000


@pytest.mark.parametrize("region,day,floor,rule", [
    (1, dt.date(2019, 12, 31), 1490000, "base_salary"),
    (1, dt.date(2020, 1, 1), 4420000, "regional_minimum_wage"),
    (4, dt.date(2025, 12, 31), 3450000, "regional_minimum_wage"),
    (4, JAN_2026, 3700000, "regional_minimum_wage"),
])
def test_the_floor_is_the_regional_minimum_wage_from_2020_and_the_base_salary_before(
        region, day, floor, rule):
    amount, used = wage_floor(REFERENCE, region, day)
    assert (amount, used.name) == (floor, rule)


def test_employers_paid_18_percent_si_with_1_percent_for_occupational_accidents_before_june_2017():
    amounts = monthly_contribution(REFERENCE, 3000000, 1, JUN_2015).amounts
    assert amounts["employer"] == {"retirement_survivors": 420000, "sickness_maternity": 90000,
                                   "occupational_accident": 30000, "health": 90000,
                                   "unemployment": 30000}
    assert amounts["employee_total"] == 240000 + 45000 + 30000


def test_covid_support_took_employer_occupational_accident_and_ui_to_0_percent():
    employer = monthly_contribution(REFERENCE, 10000000, 1, dt.date(2021, 11, 1)).amounts["employer"]
    assert (employer["occupational_accident"], employer["unemployment"]) == (0, 0)
    employer = monthly_contribution(REFERENCE, 10000000, 1, dt.date(2022, 10, 1)).amounts["employer"]
    assert (employer["occupational_accident"], employer["unemployment"]) == (50000, 100000)


def test_each_amount_is_rounded_once_to_the_dong_halves_up():
    amounts = monthly_contribution(REFERENCE, 4960100, 1, MAR_2025).amounts
    assert amounts["employer"]["occupational_accident"] == 24801
    assert amounts["employee"]["health"] == 74402
    assert amounts["employee_total"] == sum(amounts["employee"].values())


def test_any_day_of_the_month_prices_that_month_by_the_rules_of_its_first_day():
    assert monthly_contribution(REFERENCE, 10000000, 1, dt.date(2025, 3, 17)).amounts == \
        monthly_contribution(REFERENCE, 10000000, 1, MAR_2025).amounts


@pytest.mark.parametrize("salary,region,field", [
    (10000000, 0, "region"), (10000000, 5, "region"), (10000000, "1", "region"),
    (10000000, True, "region"), (10000000, 1.0, "region"),
    (0, 1, "salary"), (-1, 1, "salary"), ("10000000", 1, "salary"), (10000000.0, 1, "salary"),
])
def test_monthly_contribution_refuses_what_the_rules_do_not_allow(salary, region, field):
    with pytest.raises(RuleViolation) as err:
        monthly_contribution(REFERENCE, salary, region, MAR_2025)
    assert list(err.value.reasons) == [field]


def test_the_explanation_cites_each_rule_used():
    lines = monthly_contribution(REFERENCE, 10000000, 1, MAR_2025).explanation
    for basis in ("Decree 74/2024/NĐ-CP", "Decree 73/2024/NĐ-CP", "Law 58/2014/QH13",
                  "Decree 146/2018/NĐ-CP", "Law on Employment 38/2013/QH13"):
        assert any(basis in line for line in lines), basis


def test_there_are_no_compulsory_rates_in_the_data_before_1995():
    with pytest.raises(OutOfRange):
        monthly_contribution(REFERENCE, 1000000, 1, dt.date(1994, 12, 1))


def test_a_1995_wage_is_charged_by_decree_12_cp_with_no_unemployment_insurance():
    # base salary 120,000 in 1995: a 500,000 wage is above the floor and under 20 times the base
    month = monthly_contribution(REFERENCE, 500000, 1, dt.date(1995, 6, 1)).amounts
    assert month["contribution_wage_si"] == 500000
    assert month["employee"] == {"retirement_survivors": 25000, "health": 5000, "unemployment": 0}
    assert month["employer"]["retirement_survivors"] == 50000


@pytest.mark.parametrize("salary,region,day,floor", [
    (5000000, 1, dt.date(2025, 12, 31), None),
    (5000000, 1, JAN_2026, 5310000),
    (4960000, 1, dt.date(2025, 12, 31), None),
    (4959999, 1, dt.date(2025, 12, 31), 4960000),
    (3700000, 4, JAN_2026, None),
    (3699999, 4, JAN_2026, 3700000),
    (1149999, 1, JUN_2015, 1150000),
])
def test_salaries_are_at_least_the_minimum_wage_of_the_region_on_the_date(salary, region, day, floor):
    reason = salary_below_minimum(REFERENCE, salary, region, day)
    if floor is None:
        assert reason is None
    else:
        assert reason.startswith("below_minimum_wage: ") and f"{floor:,} VND" in reason
