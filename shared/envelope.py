"""The intake envelope (CONTRACT §1) and per-field, machine-readable reasons.

Every reason is a string ``"<code>: <sentence>"``: the code before the colon
is stable for programs, the sentence is for people.
"""
import datetime as dt
import hashlib
import json
import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

# marshmallow's own messages, turned into codes.
_CODES = {
    "Missing data for required field.": "required",
    "Field may not be null.": "null",
    "Unknown field.": "unknown_field",
    "Not a valid string.": "invalid_type",
    "Not a valid integer.": "invalid_type",
    "Not a valid boolean.": "invalid_type",
    "Not a valid mapping type.": "invalid_type",
    "Invalid input type.": "invalid_type",
    "Not a valid date.": "invalid_date",
    "Not a valid datetime.": "invalid_datetime",
}

EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def coded(code, sentence):
    return f"{code}: {sentence}"


def reasons_from(messages, prefix=""):
    """Flatten marshmallow's nested error dict to ``{"a.b": ["code: ..."]}``."""
    flat = {}
    if isinstance(messages, (list, tuple)):
        messages = {prefix.rstrip(".") or "_schema": messages}
        prefix = ""
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(reasons_from(value, prefix=f"{name}."))
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        out = flat.setdefault(name, [])
        for item in items:
            text = str(item)
            out.append(text if re.match(r"^[a-z_]+: ", text) else
                       coded(_CODES.get(text, "invalid"), text))
    return flat


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class AwareDateTime(fields.DateTime):
    """An ISO 8601 timestamp that carries its offset, as the contract requires."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is None:
            raise ValidationError(coded("missing_offset", "timestamps must carry an offset"))
        return result


class StrictBoolean(fields.Field):
    """JSON true or false only: not 1, 0, "yes" (``1 == True`` in Python)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError(coded("invalid_type", "true or false"))
        return value


class EnvelopeSchema(StrictSchema):
    event_id = fields.String(required=True)
    event_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = AwareDateTime(required=True)
    source = fields.String(required=True, validate=validate.Length(min=1, max=64))
    payload = fields.Dict(required=True)

    @validates("event_id")
    def _event_id(self, value, **kwargs):
        if not EVENT_ID.match(value):
            raise ValidationError(coded(
                "invalid_format", "event_id: 1-128 letters, digits, '.', '_', ':' or '-'"))


_ENVELOPE = EnvelopeSchema()


def body_fingerprint(body):
    """A stable id for a message too broken to carry a usable event_id."""
    return "unparsed-" + hashlib.sha256(body).hexdigest()[:32]


class Unparseable(Exception):
    """The body is not a JSON object: there is no envelope to read."""


def parse_json_object(body):
    # PostgreSQL text cannot hold NUL, and no field of the contract needs it.
    if b"\x00" in body or b"\\u0000" in body:
        raise Unparseable(coded("nul_character", "the body contains a NUL character"))
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unparseable(coded("not_json", f"the body is not valid UTF-8 JSON ({exc})")) from None
    except RecursionError:
        raise Unparseable(coded("too_deep", "the body nests too deeply")) from None
    if not isinstance(data, dict):
        raise Unparseable(coded("not_an_object", "the body must be a JSON object"))
    return data


def parse_envelope(body, routing_key):
    """``(envelope, reasons)``: the loaded envelope, or per-field reasons."""
    data = parse_json_object(body)
    try:
        envelope = _ENVELOPE.load(data)
    except ValidationError as err:
        return None, reasons_from(err.messages)
    if envelope["event_type"] != routing_key:
        return None, {"event_type": [coded(
            "routing_key_mismatch",
            f"event_type {envelope['event_type']!r} differs from routing key {routing_key!r}")]}
    return envelope, {}


def today_in(tz_offset_hours=7):
    """Today's date in Vietnam (UTC+7), for 'not in the future' checks."""
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=tz_offset_hours)).date()
