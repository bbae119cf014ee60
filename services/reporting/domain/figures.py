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
    target, achieved, base = Decimal(str(target)), Decimal(str(achieved)), Decimal(str(baseline))
    total_days = (ends_on - starts_on).days + 1
    elapsed = min(max((as_of - starts_on).days + 1, 0), total_days)
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
