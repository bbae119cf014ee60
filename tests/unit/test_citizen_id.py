"""The digit rules of the 12-digit citizen id."""
import datetime as dt

import pytest

from services.enrolment.domain.citizen_id import (
    citizen_id_contradictions, citizen_id_format_errors, make_citizen_id)


def codes(messages):
    return [m.split(":", 1)[0] for m in messages]


@pytest.mark.parametrize("value", ["00108501234", "0010850123456", "00108501234x", 1085012345, None, ""])
def test_id_must_be_exactly_twelve_digits(value):
    assert codes(citizen_id_format_errors(value)) == ["invalid_format"]


@pytest.mark.parametrize("value", ["003085012345", "099085012345", "101085012345"])
def test_first_three_digits_must_be_an_old_province(value):
    assert "unknown_province" in codes(citizen_id_format_errors(value))


@pytest.mark.parametrize("digit", "456789")
def test_fourth_digit_outside_1900_2099_is_refused(digit):
    assert codes(citizen_id_format_errors(f"001{digit}85012345")) == ["invalid_century"]


@pytest.mark.parametrize("value", ["001085012345", "096199000001", "079205000001", "042300123456"])
def test_well_formed_ids_pass(value):
    assert citizen_id_format_errors(value) == []


@pytest.mark.parametrize("digit,sex,year", [("0", "male", 1985), ("1", "female", 1985),
                                            ("2", "male", 2005), ("3", "female", 2005)])
def test_fourth_digit_encodes_century_and_sex(digit, sex, year):
    citizen_id = f"001{digit}{year % 100:02d}012345"
    assert citizen_id_contradictions(citizen_id, sex, dt.date(year, 6, 1)) == {}


def test_female_digit_contradicts_male_payload():
    reasons = citizen_id_contradictions("001185012345", "male", dt.date(1985, 6, 1))
    assert codes(reasons["sex"]) == ["contradicts_citizen_id"]
    assert "date_of_birth" not in reasons


def test_birth_year_digits_must_match_date_of_birth():
    reasons = citizen_id_contradictions("001085012345", "male", dt.date(1986, 1, 1))
    assert codes(reasons["date_of_birth"]) == ["contradicts_citizen_id"]


def test_century_digit_must_match_date_of_birth():
    # digit 2 says born 2000-2099: 2085 is not 1985
    reasons = citizen_id_contradictions("001285012345", "male", dt.date(1985, 1, 1))
    assert "date_of_birth" in reasons


@pytest.mark.parametrize("sex,year", [("male", 1964), ("female", 1999), ("male", 2000), ("female", 2023)])
def test_made_ids_satisfy_the_rules(sex, year):
    citizen_id = make_citizen_id("42", sex, year, 123)
    assert citizen_id_format_errors(citizen_id) == []
    assert citizen_id_contradictions(citizen_id, sex, dt.date(year, 1, 1)) == {}
