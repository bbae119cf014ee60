"""How consumed events move the reporting aggregates."""
from services.reporting.domain.aggregates import (
    merge, participant_registered_deltas, rejection_key)


def test_a_registration_adds_one_to_its_province():
    assert participant_registered_deltas({"province_code": "42"}) == [("42", "registered", 1)]


def test_a_batch_writes_each_row_once_with_the_sum():
    deltas = [("42", "registered", 1), ("01", "registered", 1), ("42", "registered", 1),
              ("79", "registered", 1), ("79", "registered", -1)]
    assert merge(deltas) == [("01", "registered", 1), ("42", "registered", 2)]


def test_rejections_are_counted_by_day_source_and_type():
    body = {"occurred_at": "2026-11-22T04:25:12+00:00", "source": "post-office",
            "event_type": "contribution.paid"}
    assert rejection_key(body) == ("2026-11-22", "post-office", "contribution.paid")
    assert rejection_key({"occurred_at": "2026-11-22T00:00:00+00:00"}) == ("2026-11-22", "unknown", "unknown")
