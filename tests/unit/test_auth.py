"""Token table: development tokens and hashed production tokens."""
import hashlib

import pytest

from shared.auth import ROLES, hash_token, token_table


def test_dev_tokens_cover_every_role_and_are_held_hashed():
    table = token_table({"dev_tokens": True, "token_hashes": "none"})
    assert sorted(table.values()) == sorted(ROLES)
    assert table[hashlib.sha256(b"dev-finance-token").hexdigest()] == "finance"
    assert "dev-finance-token" not in table


def test_production_tokens_come_as_hashes_and_dev_tokens_can_be_off():
    digest = hash_token("s3cret")
    table = token_table({"dev_tokens": "false", "token_hashes": f"planner:{digest}"})
    assert table == {digest: "planner"}


@pytest.mark.parametrize("entry", ["boss:" + "a" * 64, "planner:abc", "planner"])
def test_bad_hash_entries_stop_the_service(entry):
    with pytest.raises(ValueError):
        token_table({"token_hashes": entry})
