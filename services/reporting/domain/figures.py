"""How reporting turns counts into the figures the agency publishes. Pure, no I/O.

A coverage rate is meaningless without its denominator and that figure's
year and source, so every rate carries them; where a province's figure is
not known the rate is None and says so.
"""
import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from shared.provinces import NEW_PROVINCES, OLD_TO_NEW

REFERENCE_FILE = Path(__file__).parent / "reference.json"
NATIONAL = "VN"
SCHEMES = ("registered", "compulsory_si", "voluntary_si", "social_insurance", "health",
           "unemployment")
# Which population a scheme's rate is taken of, and the national target it is held against.
DENOMINATOR_OF = {"health": "population", "compulsory_si": "working_age_labour_force",
                  "voluntary_si": "working_age_labour_force",
                  "social_insurance": "working_age_labour_force",
                  "unemployment": "working_age_labour_force"}
TARGET_OF = {"health": "health", "social_insurance": "social_insurance",
             "unemployment": "unemployment"}


def load_reference(path=REFERENCE_FILE):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def today_unit(province_code):
    """The province of today's map that a code (old or new) belongs to; the two maps
    agree wherever a code is in both."""
    return OLD_TO_NEW.get(province_code, province_code)


def province_name(code):
    return "Việt Nam" if code == NATIONAL else NEW_PROVINCES.get(code, code)


def rounded(value, places=1):
    return float(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


# Counts below this are computed in integers where the figures once were in Decimal: the
# same results (Decimal's 28 digits are far from a half at this size: see _half_up), a
# tenth of the time. Larger or fractional values still go through Decimal.
EXACT_BELOW = 10 ** 10


def _exact(*values):
    """Whether ``values`` are whole numbers in 0 <= v < EXACT_BELOW (ints or Decimals)."""
    for value in values:
        if type(value) is not int:
            if not isinstance(value, Decimal) or not value.is_finite() or value != int(value):
                return False
        if not 0 <= value < EXACT_BELOW:
            return False
    return True


def _half_up(numerator, denominator):
    """``numerator / denominator`` (ints, ``denominator`` > 0) rounded half away from zero,
    exactly, as ``Decimal.quantize(..., ROUND_HALF_UP)`` rounds the quotient.

    Decimal rounds a quotient to 28 significant digits before quantizing; below
    EXACT_BELOW that moves it by less than 1e-13 of a unit, while a quotient that is not
    exactly at a half is at least 1 / (2 * denominator) > 1e-11 from it: never across."""
    whole = (2 * abs(numerator) + denominator) // (2 * denominator)
    return whole if numerator >= 0 else -whole


class Denominators:
    """``denominator_for`` over the same rows, indexed once: per province, kind and year
    the answer is looked up, not scanned for (a national view asks for ~210 rows)."""

    def __init__(self, denominators):
        self.rows = denominators
        self.provinces = {r["province_code"] for r in denominators}
        self.known = {}

    def of(self, province_code, scheme, as_of):
        """``denominator_for(rows, province_code, scheme, as_of)``: the same dict, shared
        between calls with the same province, kind and year (read it, do not change it)."""
        kind = DENOMINATOR_OF.get(scheme)
        key = (province_code, kind, as_of.year)
        answer = self.known.get(key)
        if answer is None:
            if kind is not None and province_code not in self.provinces:
                answer = {"kind": kind, "value": None, "year": None,
                          "source": "not known: a planner can set it with set_denominator"}
            else:
                answer = denominator_for(self.rows, province_code, scheme, as_of)
            self.known[key] = answer
        return answer


def denominator_for(denominators, province_code, scheme, as_of):
    """The latest figure for the scheme's population up to the year of ``as_of``.

    ``denominators`` is a list of rows ``{province_code, year, population,
    working_age_labour_force, labour_force, source, verify}``. Returns
    ``{kind, value, year, source}`` with value None when not known.
    """
    kind = DENOMINATOR_OF.get(scheme)
    if kind is None:
        return {"kind": None, "value": None, "year": None, "source": None}
    rows = [r for r in denominators if r["province_code"] == province_code
            and r["year"] <= as_of.year and r.get(kind)]
    if not rows:
        return {"kind": kind, "value": None, "year": None,
                "source": "not known: a planner can set it with set_denominator"}
    row = max(rows, key=lambda r: r["year"])
    source = row["source"] + (" (verify)" if row.get("verify") else "")
    return {"kind": kind, "value": int(row[kind]), "year": row["year"], "source": source}


def coverage_rate(participants, denominator):
    """Participants as a percent of the denominator, two decimals; None if unknown."""
    if not denominator:
        return None
    if _exact(participants, denominator) and denominator > 0:
        return _half_up(int(participants) * 10000, int(denominator)) / 100
    return rounded(Decimal(participants) * 100 / Decimal(denominator), 2)


def change_percent(current, previous):
    """Year-on-year change in percent, one decimal; None when there is nothing to compare."""
    if not previous:
        return None
    return rounded(Decimal(current - previous) * 100 / Decimal(previous), 1)


def target_progress(target, achieved, starts_on, ends_on, as_of, whole=True, baseline=0):
    """How far a target is reached and whether the pace so far reaches it by the end.

    ``baseline`` is where the measure stood when the period began (0 for new
    participants; the rate of the day before for a rate target). ``expected_by_now``
    is where an even pace from the baseline would be on ``as_of``; ``on_pace`` says
    whether the change so far, continued at its pace to the end, reaches the target.
    ``whole``: counts of people (rounded to units), else percentages.
    """
    total_days = (ends_on - starts_on).days + 1
    elapsed = min(max((as_of - starts_on).days + 1, 0), total_days)
    if whole and target and _exact(target, achieved, baseline):
        # counts of people: the same figures in integers (see _half_up)
        target, achieved, base = int(target), int(achieved), int(baseline)
        on_pace = base * elapsed + (achieved - base) * total_days >= target * elapsed \
            if elapsed else base >= target
        return {"percent": _half_up(achieved * 1000, target) / 10,
                "remaining": max(target - achieved, 0),
                "expected_by_now": _half_up(base * total_days + (target - base) * elapsed,
                                            total_days),
                "on_pace": on_pace, "elapsed_days": elapsed, "total_days": total_days}
    target, achieved, base = Decimal(str(target)), Decimal(str(achieved)), Decimal(str(baseline))
    expected = base + (target - base) * elapsed / total_days
    projected = base + (achieved - base) * total_days / elapsed if elapsed else base
    shown = (lambda v: int(v.quantize(Decimal(1), rounding=ROUND_HALF_UP))) if whole \
        else (lambda v: rounded(v, 2))
    return {"percent": rounded(achieved * 100 / target, 1),
            "remaining": shown(max(target - achieved, Decimal(0))),
            "expected_by_now": shown(expected), "on_pace": projected >= target,
            "elapsed_days": elapsed, "total_days": total_days}


def year_bounds(year):
    return dt.date(year, 1, 1), dt.date(year, 12, 31)
