"""Rules for putting a person on the register."""
import datetime as dt

from shared.envelope import coded
from shared.provinces import REORGANISED_ON, provinces_on

EARLIEST_BIRTH = dt.date(1900, 1, 1)


def registration_errors(person, registered_on, today):
    """Per-field reasons a ``person.registered`` payload is not acceptable.

    ``registered_on`` decides the province table (63 before 1 Jul 2025, 34
    from then) and whether a district may be given.
    """
    reasons = {}
    born = person.get("date_of_birth")
    if born is not None:
        if born > today:
            reasons.setdefault("date_of_birth", []).append(
                coded("in_future", "the date of birth is after today"))
        elif born < EARLIEST_BIRTH:
            reasons.setdefault("date_of_birth", []).append(
                coded("too_early", "the date of birth is before 1900"))
        elif born > registered_on:
            reasons.setdefault("date_of_birth", []).append(
                coded("after_registration", "the date of birth is after the registration"))
    province = person.get("province_code")
    if province is not None and province not in provinces_on(registered_on):
        period = "from 1 Jul 2025 (34 provinces)" if registered_on >= REORGANISED_ON \
            else "before 1 Jul 2025 (63 provinces)"
        reasons.setdefault("province_code", []).append(
            coded("unknown_province", f"not a province code in force {period}"))
    if person.get("district_code") and registered_on >= REORGANISED_ON:
        reasons.setdefault("district_code", []).append(
            coded("no_district_level", "districts were abolished on 1 Jul 2025"))
    return reasons
