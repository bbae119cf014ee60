"""The one answer every benefit rule gives: approved or rejected, amounts, and why.

Reasons are ``"code: sentence"`` strings (shared.envelope.coded); the
explanation lists each step with the value used and its legal basis.
"""
import datetime as dt
from dataclasses import dataclass, field

from services.benefits.domain.history import month_label
from shared.envelope import coded
from shared.reference import OutOfRange

APPROVED, REJECTED = "approved", "rejected"


@dataclass
class Decision:
    kind: str
    status: str
    reasons: list = field(default_factory=list)
    monthly_amount: int | None = None
    lump_sum_amount: int | None = None
    duration_months: int | None = None
    start_month: dt.date | None = None
    explanation: list = field(default_factory=list)
    rule_period: str | None = None

    @property
    def approved(self):
        return self.status == APPROVED

    def to_dict(self):
        return {"kind": self.kind, "status": self.status, "reasons": list(self.reasons),
                "monthly_amount": self.monthly_amount, "lump_sum_amount": self.lump_sum_amount,
                "duration_months": self.duration_months,
                "start_month": self.start_month and month_label(self.start_month),
                "explanation": list(self.explanation), "rule_period": self.rule_period}


@dataclass
class Period:
    """The law period a claim date falls in, as ``rule_period`` and a sentence for the explanation."""
    name: str
    sentence: str


def law_period(reference, parameter, claim_date):
    """The period of ``parameter`` (a law row) in force on ``claim_date``; OutOfRange before the data."""
    rule = reference.rule(parameter, claim_date)
    later = [row for row in reference.history(parameter) if row.valid_from > rule.valid_from]
    if later:
        name = f"{rule.value} (to {(later[0].valid_from - dt.timedelta(days=1)).isoformat()})"
        note = ""
    else:
        name = f"{rule.value} (from {rule.valid_from.isoformat()})"
        note = (f"; it is the latest law period in the data (reference version {reference.version}):"
                " no later change is in the data")
    return Period(name, f"claim of {claim_date.isoformat()}: rules of {name} ({rule.cite()}){note}")


def rejected(kind, period, explanation, *reasons):
    return Decision(kind, REJECTED, reasons=list(reasons), explanation=explanation,
                    rule_period=period.name)


def not_in_data(kind, claim_date, gap: OutOfRange):
    """The answer when the data holds no rule for a date the claim needs: refused, not guessed."""
    return Decision(kind, REJECTED, reasons=[coded(
        "rules_not_in_data", f"the reference data has no rule for this claim of"
        f" {claim_date.isoformat()} ({gap})")])


def deceased(kind, person, claim_date, period, explanation):
    """A refusal when the person died on or before the claim date, else None."""
    if person.date_of_death is None or person.date_of_death > claim_date:
        return None
    return rejected(kind, period, explanation, coded(
        "deceased", f"the person died on {person.date_of_death.isoformat()}, on or before the claim;"
        " survivor benefits are another claim"))
