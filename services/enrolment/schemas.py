"""What enters and leaves the enrolment service."""
import datetime as dt

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from services.enrolment.domain.citizen_id import (
    citizen_id_contradictions, citizen_id_format_errors)
from shared.envelope import StrictBoolean, StrictSchema, coded

SEXES = ("male", "female")


class CitizenId(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        errors = citizen_id_format_errors(value)
        if errors:
            raise ValidationError(errors)
        return value


def digits(count_min, count_max, name):
    return validate.Regexp(rf"^\d{{{count_min},{count_max}}}$",
                           error=coded("invalid_format", f"{name} is {count_min}-{count_max} digits"))


class PersonRegisteredSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    full_name = fields.String(required=True, validate=validate.Length(
        min=1, max=200, error=coded("invalid_length", "1-200 characters")))
    date_of_birth = fields.Date(required=True)
    sex = fields.String(required=True, validate=validate.OneOf(
        SEXES, error=coded("invalid_choice", "male or female")))
    province_code = fields.String(required=True, validate=digits(2, 2, "a province code"))
    district_code = fields.String(load_default=None, allow_none=True,
                                  validate=digits(3, 3, "a district code"))
    commune_code = fields.String(load_default=None, allow_none=True,
                                 validate=digits(5, 5, "a commune code"))
    household_id = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=32))
    ethnic_minority = StrictBoolean(load_default=False)

    @validates("full_name")
    def _name_not_blank(self, value, **kwargs):
        if not value.strip():
            raise ValidationError(coded("blank", "the name is blank"))

    @validates_schema(skip_on_field_errors=False)
    def _digits_agree(self, data, **kwargs):
        if "citizen_id" not in data:
            return
        reasons = citizen_id_contradictions(
            data["citizen_id"], data.get("sex"), data.get("date_of_birth"))
        if reasons:
            raise ValidationError(reasons)


EMPLOYER_CODE = validate.Regexp(r"^[A-Z0-9][A-Z0-9._-]{0,31}$", error=coded(
    "invalid_format", "1-32 capital letters, digits, '.', '_' or '-'"))
# Groups an employment can give (DOMAIN: employer and employee pay).
EMPLOYMENT_GROUPS = ("DN", "HC", "HX", "CH", "NN", "TK", "XK")


class Money(fields.Integer):
    """A positive integer number of VND (not a float, not a string)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, validate=validate.Range(
            min=1, error=coded("invalid_range", "a positive number of VND")), **kwargs)


class EmploymentStartedSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    employer_code = fields.String(required=True, validate=EMPLOYER_CODE)
    monthly_salary = Money(required=True)
    start_date = fields.Date(required=True)
    region = fields.Integer(required=True, strict=True, validate=validate.OneOf(
        (1, 2, 3, 4), error=coded("invalid_choice", "minimum-wage region 1, 2, 3 or 4")))
    group_code = fields.String(load_default=None, validate=validate.OneOf(
        EMPLOYMENT_GROUPS, error=coded("invalid_choice", "an employment HI group: "
                                       + ", ".join(EMPLOYMENT_GROUPS))))
    # The kind of employer decides the HI group (the reference data's table).
    employer_kind = fields.String(load_default=None, validate=validate.Length(
        min=1, max=32, error=coded("invalid_length", "1-32 characters")))


class EmploymentChangedSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    employer_code = fields.String(required=True, validate=EMPLOYER_CODE)
    monthly_salary = Money(required=True)
    effective_date = fields.Date(required=True)


class EmploymentEndedSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    employer_code = fields.String(required=True, validate=EMPLOYER_CODE)
    end_date = fields.Date(required=True)
    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=200))


class Month(fields.String):
    """``YYYY-MM``, loaded as the first day of that month."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            year, month = text.split("-")
            if len(year) != 4 or len(month) != 2:
                raise ValueError
            return dt.date(int(year), int(month), 1)
        except ValueError:
            raise ValidationError(coded("invalid_month", "a month as YYYY-MM")) from None


SUPPORT_GROUPS = ("poor", "near_poor", "ethnic_minority", "other")
HOUSEHOLD_ID = validate.Length(min=1, max=32, error=coded("invalid_length", "1-32 characters"))


class ContributionPaidSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    scheme = fields.String(required=True, validate=validate.OneOf(
        ("voluntary_si", "household_hi"), error=coded("invalid_choice", "voluntary_si or household_hi")))
    period_start = Month(required=True)
    months = fields.Integer(required=True, strict=True)
    amount_paid = Money(required=True)
    channel = fields.String(required=True, validate=validate.Length(
        min=1, max=32, error=coded("invalid_length", "1-32 characters")))
    declared_income = Money(load_default=None, allow_none=True)
    support_group = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        SUPPORT_GROUPS, error=coded("invalid_choice", ", ".join(SUPPORT_GROUPS))))
    household_id = fields.String(load_default=None, allow_none=True, validate=HOUSEHOLD_ID)

    @validates_schema(skip_on_field_errors=True)
    def _fields_of_the_scheme(self, data, **kwargs):
        if data["scheme"] == "voluntary_si" and data.get("declared_income") is None:
            raise ValidationError({"declared_income": [coded("required", "required for voluntary_si")]})
        if data["scheme"] == "household_hi" and not data.get("household_id"):
            raise ValidationError({"household_id": [coded("required", "required for household_hi")]})


PAYERS = ("state", "household", "employer", "sponsor")


class HealthEnrolledSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    group_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]{2}$", error=coded("invalid_format", "two capital letters")))
    valid_from = fields.Date(required=True)
    months = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=60, error=coded("invalid_range", "1 to 60 months")))
    household_id = fields.String(load_default=None, allow_none=True, validate=HOUSEHOLD_ID)
    payer = fields.String(load_default="state", validate=validate.OneOf(
        PAYERS, error=coded("invalid_choice", ", ".join(PAYERS))))


BENEFITS = ("health_card", "si_book")


class SponsorshipGrantedSchema(StrictSchema):
    programme_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z0-9][A-Z0-9._-]{0,31}$", error=coded("invalid_format", "1-32 capital letters or digits")))
    sponsor = fields.String(required=True, validate=validate.Length(
        min=1, max=100, error=coded("invalid_length", "1-100 characters")))
    citizen_id = CitizenId(required=True)
    benefit = fields.String(required=True, validate=validate.OneOf(
        BENEFITS, error=coded("invalid_choice", "health_card or si_book")))
    months = fields.Integer(required=True, strict=True, validate=validate.OneOf(
        (1, 3, 6, 12), error=coded("invalid_choice", "1, 3, 6 or 12 months")))
    amount = Money(required=True)


class ProgrammeSchema(StrictSchema):
    """An operator's new sponsored programme."""
    programme_code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z0-9][A-Z0-9._-]{0,31}$", error=coded("invalid_format", "1-32 capital letters or digits")))
    name = fields.String(required=True, validate=validate.Length(
        min=1, max=200, error=coded("invalid_length", "1-200 characters")))
    sponsors = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True,
                           validate=validate.Length(min=1, error=coded("required", "at least one sponsor")))
    goal_books = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    goal_cards = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    budget = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class PersonCorrectionSchema(StrictSchema):
    """Fields a clerk may correct; the citizen id and SI code never change."""
    full_name = fields.String(validate=validate.Length(
        min=1, max=200, error=coded("invalid_length", "1-200 characters")))
    date_of_birth = fields.Date()
    sex = fields.String(validate=validate.OneOf(SEXES, error=coded("invalid_choice", "male or female")))
    province_code = fields.String(validate=digits(2, 2, "a province code"))
    commune_code = fields.String(allow_none=True, validate=digits(5, 5, "a commune code"))
    household_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=32))
    ethnic_minority = StrictBoolean()


class PersonDiedSchema(StrictSchema):
    citizen_id = CitizenId(required=True)
    date_of_death = fields.Date(required=True)


# Instances are reused: building a schema copies its fields, which costs
# more than loading a payload.
PAYLOAD_SCHEMAS = {
    "person.registered": PersonRegisteredSchema(),
    "employment.started": EmploymentStartedSchema(),
    "employment.changed": EmploymentChangedSchema(),
    "employment.ended": EmploymentEndedSchema(),
    "person.died": PersonDiedSchema(),
    "contribution.paid": ContributionPaidSchema(),
    "health.enrolled": HealthEnrolledSchema(),
    "sponsorship.granted": SponsorshipGrantedSchema(),
}
