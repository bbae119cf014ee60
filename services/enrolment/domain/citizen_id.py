"""The 12-digit citizen identity number and what its digits say.

Digits 1-3: province of birth registration (0 + an old 2-digit province code);
digit 4: century and sex (0 male / 1 female born 1900-1999, 2 male / 3 female
born 2000-2099); digits 5-6: the last two digits of the birth year; the last
six: a serial. (Circular 07/2016/TT-BCA, Decree 137/2015/NĐ-CP.)
"""
from shared.envelope import coded
from shared.provinces import OLD_PROVINCES

_CENTURY_SEX = {"0": (1900, "male"), "1": (1900, "female"),
                "2": (2000, "male"), "3": (2000, "female")}


def citizen_id_format_errors(citizen_id):
    """Reasons the id cannot be a citizen id at all (empty list if none)."""
    if not (isinstance(citizen_id, str) and len(citizen_id) == 12 and citizen_id.isdigit()):
        return [coded("invalid_format", "a citizen id is exactly 12 digits")]
    errors = []
    if citizen_id[0] != "0" or citizen_id[1:3] not in OLD_PROVINCES:
        errors.append(coded("unknown_province", "digits 1-3 are not a province of birth registration"))
    if citizen_id[3] not in _CENTURY_SEX:
        errors.append(coded("invalid_century", "digit 4 must be 0-3 (born 1900-2099)"))
    return errors


def citizen_id_contradictions(citizen_id, sex, date_of_birth):
    """Per-field reasons where the id's digits disagree with sex or birth date."""
    century, coded_sex = _CENTURY_SEX[citizen_id[3]]
    reasons = {}
    if sex is not None and sex != coded_sex:
        reasons.setdefault("sex", []).append(coded(
            "contradicts_citizen_id", f"digit 4 of the citizen id says {coded_sex}"))
    if date_of_birth is not None:
        year = century + int(citizen_id[4:6])
        if date_of_birth.year != year:
            reasons.setdefault("date_of_birth", []).append(coded(
                "contradicts_citizen_id", "digits 4-6 of the citizen id give another birth year"))
    return reasons


def make_citizen_id(province_code, sex, birth_year, serial):
    """Build a valid id (for synthetic data and tests)."""
    offset = 0 if birth_year < 2000 else 2
    digit = offset + (1 if sex == "female" else 0)
    return f"0{province_code}{digit}{birth_year % 100:02d}{serial % 1_000_000:06d}"
