"""What benefits reads: enrolment's events, and claims submitted by assessors."""
import datetime as dt
import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from shared.envelope import StrictSchema, coded


class EventSchema(Schema):
    """Only the fields benefits keeps; enrolment may add others."""

    class Meta:
        unknown = EXCLUDE


class ParticipantRegisteredSchema(EventSchema):
    citizen_id = fields.String(required=True)
    si_code = fields.String(required=True)
    date_of_birth = fields.Date(required=True)
    sex = fields.String(required=True)
    province_code = fields.String(required=True)
    registered_on = fields.Date(required=True)


class Month(fields.String):
    """``YYYY-MM`` as the first day of the month."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(r"\d{4}-\d{2}", text) or not 1 <= int(text[5:]) <= 12:
            raise ValidationError(coded("invalid_month", "a month as YYYY-MM"))
        return dt.date(int(text[:4]), int(text[5:]), 1)


class ContributionRecordedSchema(EventSchema):
    citizen_id = fields.String(required=True)
    scheme = fields.String(required=True)
    month = Month(required=True)
    contribution_wage = fields.Integer(allow_none=True, load_default=None)
    contribution_wage_ui = fields.Integer(allow_none=True, load_default=None)
    employer_code = fields.String(allow_none=True, load_default=None)
    employee = fields.Dict(load_default=dict)


class EmploymentStartedSchema(EventSchema):
    citizen_id = fields.String(required=True)
    employer_code = fields.String(required=True)
    region = fields.Integer(required=True)
    start_date = fields.Date(required=True)


class EmploymentEndedSchema(EventSchema):
    citizen_id = fields.String(required=True)
    employer_code = fields.String(required=True)
    end_date = fields.Date(required=True)
    reason = fields.String(allow_none=True, load_default=None)


class ParticipantDiedSchema(EventSchema):
    citizen_id = fields.String(required=True)
    date_of_death = fields.Date(required=True)


KINDS = ("pension", "lump_sum", "unemployment")
LUMP_SUM_REASONS = ("retirement_age", "settling_abroad", "serious_illness", "lost_capacity",
                    "out_of_system")


class EarlyRetirementSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.OneOf(
        ("reduced_capacity",), error=coded("invalid_choice", "reduced_capacity")))
    lost_capacity_percent = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=0, max=100, error=coded("invalid_range", "0 to 100")))


class ClaimSchema(StrictSchema):
    """A claim as an assessor submits it."""
    citizen_id = fields.String(required=True, validate=validate.Regexp(
        r"^\d{12}$", error=coded("invalid_format", "a citizen id is exactly 12 digits")))
    kind = fields.String(required=True, validate=validate.OneOf(
        KINDS, error=coded("invalid_choice", ", ".join(KINDS))))
    claim_date = fields.Date(required=True)
    bank_account = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[A-Z0-9-]{6,34}$", error=coded("invalid_format", "6-34 capital letters, digits or '-'")))
    early_retirement = fields.Nested(EarlyRetirementSchema, load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        LUMP_SUM_REASONS, error=coded("invalid_choice", ", ".join(LUMP_SUM_REASONS))))
    lost_capacity_percent = fields.Integer(load_default=None, allow_none=True, strict=True,
                                           validate=validate.Range(min=0, max=100))

    @validates_schema(skip_on_field_errors=True)
    def _fields_of_the_kind(self, data, **kwargs):
        if data["kind"] == "lump_sum" and not data.get("reason"):
            raise ValidationError({"reason": [coded("required", "required for a lump sum")]})
        if data["kind"] != "lump_sum" and data.get("reason"):
            raise ValidationError({"reason": [coded("unknown_field", "only for a lump sum")]})
        if data["kind"] != "pension" and data.get("early_retirement"):
            raise ValidationError({"early_retirement": [coded("unknown_field", "only for a pension")]})
