"""Money is an integer number of VND, rounded in one place by one rule.

Rule: compute in exact decimals, round once at the end of each amount to the
nearest dong, halves away from zero (ROUND_HALF_UP).
"""
from decimal import ROUND_HALF_UP, Decimal


def vnd(amount):
    """The integer VND for an exact amount (Decimal, int or a numeric string)."""
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent(value):
    """``percent("4.5")`` is Decimal("0.045"): rates are data, never floats."""
    return Decimal(str(value)) / 100
