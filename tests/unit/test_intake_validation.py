"""The intake envelope and the person.registered payload."""
import datetime as dt
import json

import pytest
from marshmallow import ValidationError

from services.enrolment.domain.register import registration_errors
from services.enrolment.schemas import PersonRegisteredSchema
from shared.envelope import Unparseable, body_fingerprint, parse_envelope, reasons_from

ENVELOPE = {"event_id": "7d0c3c5e-2f1e-4c59-9d44-0a4f7b3e2a10", "event_type": "person.registered",
            "occurred_at": "2024-01-16T09:51:00+07:00", "source": "commune-registry", "payload": {}}
PERSON = {"citizen_id": "001085012345", "full_name": "Nguyễn Văn A", "date_of_birth": "1985-03-02",
          "sex": "male", "province_code": "01"}


def envelope(**changes):
    return json.dumps(dict(ENVELOPE, **changes)).encode()


def reason_codes(reasons):
    return {field: [m.split(":", 1)[0] for m in messages] for field, messages in reasons.items()}


def test_the_contracts_example_envelope_is_accepted():
    loaded, reasons = parse_envelope(envelope(), "person.registered")
    assert reasons == {}
    assert loaded["occurred_at"] == dt.datetime(2024, 1, 16, 2, 51, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("field", ["event_id", "event_type", "occurred_at", "source", "payload"])
def test_every_envelope_field_is_required(field):
    data = dict(ENVELOPE)
    del data[field]
    _, reasons = parse_envelope(json.dumps(data).encode(), "person.registered")
    assert reason_codes(reasons) == {field: ["required"]}


def test_timestamp_without_offset_is_refused():
    _, reasons = parse_envelope(envelope(occurred_at="2024-01-16T09:51:00"), "person.registered")
    assert reason_codes(reasons) == {"occurred_at": ["missing_offset"]}


def test_event_type_must_equal_routing_key():
    _, reasons = parse_envelope(envelope(), "person.died")
    assert reason_codes(reasons) == {"event_type": ["routing_key_mismatch"]}


def test_unknown_envelope_fields_are_refused():
    _, reasons = parse_envelope(envelope(extra=1), "person.registered")
    assert reason_codes(reasons) == {"extra": ["unknown_field"]}


@pytest.mark.parametrize("event_id", ["", "has space", "x" * 129, "-leading"])
def test_malformed_event_ids_are_refused(event_id):
    _, reasons = parse_envelope(envelope(event_id=event_id), "person.registered")
    assert "event_id" in reasons


@pytest.mark.parametrize("body,code", [(b"{not json", "not_json"), (b"[1, 2]", "not_an_object"),
                                       (b"\xff\xfe", "not_json"), (b"[" * 200000, "too_deep"),
                                       (b'{"full_name": "A\\u0000B"}', "nul_character"),
                                       (b'{"a": "\x00"}', "nul_character")])
def test_a_body_that_is_no_json_object_is_unparseable(body, code):
    with pytest.raises(Unparseable) as err:
        parse_envelope(body, "person.registered")
    assert str(err.value).startswith(code + ":")


def test_fingerprint_is_stable_for_the_same_body():
    assert body_fingerprint(b"abc") == body_fingerprint(b"abc") != body_fingerprint(b"abd")


def load_person(**changes):
    data = dict(PERSON, **changes)
    return PersonRegisteredSchema().load({k: v for k, v in data.items() if v is not ...})


def test_a_valid_person_loads_with_defaults():
    person = load_person()
    assert person["date_of_birth"] == dt.date(1985, 3, 2)
    assert person["ethnic_minority"] is False and person["household_id"] is None


@pytest.mark.parametrize("changes,field,code", [
    ({"citizen_id": "00108501234"}, "citizen_id", "invalid_format"),
    ({"sex": "other"}, "sex", "invalid_choice"),
    ({"sex": "female"}, "sex", "contradicts_citizen_id"),
    ({"date_of_birth": "1986-03-02"}, "date_of_birth", "contradicts_citizen_id"),
    ({"date_of_birth": "1985-02-30"}, "date_of_birth", "invalid_date"),
    ({"full_name": "   "}, "full_name", "blank"),
    ({"full_name": ...}, "full_name", "required"),
    ({"province_code": "1"}, "province_code", "invalid_format"),
    ({"commune_code": "12"}, "commune_code", "invalid_format"),
    ({"ethnic_minority": "yes"}, "ethnic_minority", "invalid_type"),
    ({"ethnic_minority": 1}, "ethnic_minority", "invalid_type"),
    ({"ethnic_minority": 0}, "ethnic_minority", "invalid_type"),
    ({"nickname": "A"}, "nickname", "unknown_field"),
])
def test_bad_person_fields_are_named_with_a_code(changes, field, code):
    with pytest.raises(ValidationError) as err:
        load_person(**changes)
    assert code in reason_codes(reasons_from(err.value.messages))[field]


TODAY = dt.date(2026, 11, 22)


def person_for_rules(**changes):
    return dict({"date_of_birth": dt.date(1985, 3, 2), "province_code": "01",
                 "district_code": None}, **changes)


def test_old_province_code_is_valid_before_the_reorganisation_only():
    hoa_binh = person_for_rules(province_code="17")
    assert registration_errors(hoa_binh, dt.date(2025, 6, 30), TODAY) == {}
    after = registration_errors(hoa_binh, dt.date(2025, 7, 1), TODAY)
    assert reason_codes(after) == {"province_code": ["unknown_province"]}


def test_district_is_refused_from_1_july_2025():
    with_district = person_for_rules(district_code="001")
    assert registration_errors(with_district, dt.date(2024, 1, 16), TODAY) == {}
    assert "district_code" in registration_errors(with_district, dt.date(2025, 7, 1), TODAY)


@pytest.mark.parametrize("born,code", [(dt.date(2026, 11, 23), "in_future"),
                                       (dt.date(1899, 12, 31), "too_early"),
                                       (dt.date(2024, 2, 1), "after_registration")])
def test_impossible_birth_dates(born, code):
    reasons = registration_errors(person_for_rules(date_of_birth=born), dt.date(2024, 1, 16), TODAY)
    assert reason_codes(reasons) == {"date_of_birth": [code]}
