"""How consumed events move the reporting aggregates."""
import datetime as dt

from services.reporting.domain.aggregates import (
    merge, monthly_rows, participant_corrected_deltas, participant_registered_deltas, rejection_key)


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


def test_a_corrected_province_moves_the_registration_and_every_scheme_the_person_is_in():
    body = {"province_code": "42", "previous_province_code": "17",
            "schemes": ["compulsory_si", "health"]}
    assert sorted(participant_corrected_deltas(body)) == sorted([
        ("17", "registered", -1), ("42", "registered", 1), ("17", "compulsory_si", -1),
        ("42", "compulsory_si", 1), ("17", "health", -1), ("42", "health", 1)])


def test_a_correction_that_keeps_the_province_moves_nothing():
    assert participant_corrected_deltas({"province_code": "42", "previous_province_code": "42",
                                         "schemes": ["health"]}) == []


def test_coverage_changes_are_rolled_up_per_month_with_every_cause():
    changes = [(dt.date(2025, 6, 30), "42", "health", 1, 0, 0, 0, 0),
               (dt.date(2025, 7, 1), "42", "health", 2, 1, 0, 0, 0),
               (dt.date(2025, 7, 31), "42", "health", 0, 0, 1, 1, 1),
               (dt.date(2025, 7, 15), "01", "health", 0, 3, 0, 0, 0)]
    assert monthly_rows(changes) == [
        (dt.date(2025, 6, 1), "42", "health", 1, 0, 0, 0, 0),
        (dt.date(2025, 7, 1), "01", "health", 0, 3, 0, 0, 0),
        (dt.date(2025, 7, 1), "42", "health", 2, 1, 1, 1, 1)]
