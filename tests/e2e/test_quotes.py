"""The quote RPCs through the contract, with the domain reference's figures."""
import json

import pytest
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.e2e


def test_household_quote_at_a_base_salary_of_2_340_000(rpc_as):
    quote = rpc_as("clerk").enrolment.quote_household_hi(5, 12, "2025-03-01")
    assert [m["monthly"] for m in quote["members"]] == [105300, 73710, 63180, 52650, 42120]
    assert [m["position"] for m in quote["members"]] == [1, 2, 3, 4, 5]
    assert quote["total"] == 336960 * 12
    assert quote["as_of"] == "2025-03-01"


def test_voluntary_quote_for_a_poor_household_member_after_1_july_2025(rpc_as):
    quote = rpc_as("clerk").enrolment.quote_voluntary_si(1500000, 3, "poor", "2025-09-01")
    assert (quote["monthly_gross"], quote["monthly_state_support"], quote["monthly_payable"],
            quote["total_payable"]) == (330000, 165000, 165000, 495000)


@pytest.mark.parametrize("call,field", [
    (lambda e: e.quote_voluntary_si(1000000, 1, "other", "2025-09-01"), "declared_income"),
    (lambda e: e.quote_household_hi(2, 2, "2025-09-01"), "months"),
    (lambda e: e.quote_household_hi(2, 3, "1990-01-01"), "as_of"),
    (lambda e: e.quote_household_hi(2, 3, "not a date"), "as_of"),
])
def test_quotes_outside_the_rules_name_the_field(rpc_as, call, field):
    with pytest.raises(RemoteError) as err:
        call(rpc_as("clerk").enrolment)
    assert err.value.exc_type == "ValidationError"
    assert field in json.loads(err.value.value)
