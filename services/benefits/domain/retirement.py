"""Retirement age (Labour Code 2019 Art. 169, Decree 135/2020/NĐ-CP) and early retirement.

The data gives the age required of people reaching it in each calendar year.
A person retires at the age of the year in which they reach it: the first year
Y where their birth date plus the age required in Y falls in Y. Retirement
happens in the month after the month the age is reached.
"""
import datetime as dt
from dataclasses import dataclass

from services.benefits.domain.history import add_months, first_of_next_month, month_index, month_label
from shared.reference import Rule


@dataclass(frozen=True)
class RetirementAge:
    years: int
    months: int
    reached_on: dt.date
    rule: Rule

    @property
    def retirement_month(self):
        """The first of the month after the month the age is reached."""
        return first_of_next_month(self.reached_on)

    def sentence(self, sex, date_of_birth):
        man = "a man" if sex == "male" else "a woman"
        return (f"retirement age for {man} born {month_label(date_of_birth)}: {self.years} years"
                f" {self.months} months, reached on {self.reached_on.isoformat()} ({self.rule.cite()})")


@dataclass(frozen=True)
class EarlyRetirement:
    months_early: int
    allowed_months: int | None  # None: the lost capacity earns no early retirement
    sentence: str

    @property
    def allowed(self):
        return self.allowed_months is not None and self.months_early <= self.allowed_months


def required_age(reference, sex, year):
    """``(years, months, Rule)``: the age required of people of ``sex`` reaching it in ``year``."""
    rule = reference.rule("retirement_age", dt.date(year, 1, 1))
    years, months = rule.value[sex]
    return years, months, rule


def retirement_age(reference, sex, date_of_birth):
    """The normal retirement age of a person and the date they reach it.

    Raises OutOfRange when the year they reach it is before the data's first row.
    """
    youngest = min(row.value[sex][0] for row in reference.history("retirement_age"))
    year = date_of_birth.year + youngest
    while True:
        years, months, rule = required_age(reference, sex, year)
        reached = add_months(date_of_birth, years * 12 + months)
        # The required age rises by less than a year each year, so this meets Y exactly.
        if reached.year <= year:
            return RetirementAge(years, months, reached, rule)
        year += 1


def early_retirement(reference, sex, date_of_birth, claim_date, lost_capacity_percent):
    """How far before the normal age of the claim's year a person with reduced capacity retires."""
    bands = reference.rule("early_retirement_lost_capacity", claim_date)
    years, months, rule = required_age(reference, sex, claim_date.year)
    normal_month = add_months(date_of_birth, years * 12 + months)
    months_early = max(0, month_index(normal_month) - month_index(claim_date))
    normal = (f"the normal age in {claim_date.year} is {years} years {months} months ({rule.cite()}),"
              f" reached in {month_label(normal_month)}: {months_early} months early")
    earned = [band for band in bands.value if lost_capacity_percent >= band["min_lost_capacity_percent"]]
    if not earned:
        lowest = min(band["min_lost_capacity_percent"] for band in bands.value)
        return EarlyRetirement(months_early, None, (
            f"early retirement needs at least {lowest}% lost working capacity, not"
            f" {lost_capacity_percent}% ({bands.cite()}); {normal}"))
    band = max(earned, key=lambda b: b["min_lost_capacity_percent"])
    return EarlyRetirement(months_early, band["years_earlier"] * 12, (
        f"early retirement with {lost_capacity_percent}% lost working capacity: up to"
        f" {band['years_earlier']} years before the normal age ({bands.cite()}); {normal}"))
