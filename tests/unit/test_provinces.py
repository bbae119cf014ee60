"""Province reference data across the 1 Jul 2025 reorganisation."""
import datetime as dt

from shared.provinces import (
    NEW_PROVINCES, OLD_PROVINCES, OLD_TO_NEW, REORGANISED_ON, current_unit, provinces_on)

NEW_CODES = ("01 04 08 11 12 14 15 19 20 22 24 25 31 33 37 38 40 42 44 46 48 51 52 56 66 68 "
             "75 79 80 82 86 91 92 96").split()


def test_there_were_63_provinces_and_are_34():
    assert len(OLD_PROVINCES) == 63
    assert sorted(NEW_PROVINCES) == NEW_CODES


def test_every_old_province_maps_to_one_new_province():
    assert set(OLD_TO_NEW) == set(OLD_PROVINCES)
    assert set(OLD_TO_NEW.values()) == set(NEW_PROVINCES)


def test_examples_of_the_merger():
    assert OLD_TO_NEW["17"] == "25"   # Hòa Bình into Phú Thọ
    assert OLD_TO_NEW["42"] == "42"   # Hà Tĩnh unchanged
    assert OLD_TO_NEW["74"] == "79"   # Bình Dương into TP Hồ Chí Minh
    assert OLD_TO_NEW["72"] == "80"   # Tây Ninh keeps its name under Long An's code


def test_the_date_decides_the_table():
    assert provinces_on(dt.date(2025, 6, 30)) is OLD_PROVINCES
    assert provinces_on(REORGANISED_ON) is NEW_PROVINCES
    assert current_unit("17", dt.date(2024, 11, 30)) == "25"
    assert current_unit("25", dt.date(2025, 8, 1)) == "25"
