"""Events benefits consumes, as it reads them."""
from marshmallow import EXCLUDE, Schema, fields


class ParticipantRegisteredSchema(Schema):
    """Only the fields benefits keeps; enrolment may add others."""

    class Meta:
        unknown = EXCLUDE

    citizen_id = fields.String(required=True)
    si_code = fields.String(required=True)
    date_of_birth = fields.Date(required=True)
    sex = fields.String(required=True)
    province_code = fields.String(required=True)
    registered_on = fields.Date(required=True)
