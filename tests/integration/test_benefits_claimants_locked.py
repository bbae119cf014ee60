"""Benefits reads once per batch which new employees have an open unemployment claim
(``HistoryBatch.prepare``). A claim submitted while the batch runs must not slip
between that read and the employment's handler: the read locks the people it asks
about until the batch commits, and ``submit_claim`` locks its person first."""
import secrets

import psycopg2
import psycopg2.errors
import pytest

from deploy.stack import ROOT
from services.benefits import store
from shared.db import Pool
from shared.migrations import migrate

pytestmark = pytest.mark.integration

WORKER, CLAIMANT = "001080900011", "001080900012"


def test_the_claimants_read_locks_the_people_it_asks_about(database_dsn):
    schema = f"claimants_{secrets.token_hex(4)}"
    migrate(database_dsn, schema, ROOT / "services" / "benefits" / "migrations")
    pool = Pool(database_dsn, schema, 2)
    with pool.transaction() as cur:
        for cid in (WORKER, CLAIMANT):
            cur.execute("INSERT INTO people (citizen_id, si_code, date_of_birth, sex, province_code,"
                        " registered_on) VALUES (%s, '0100000011', '1980-05-05', 'male', '01',"
                        " '2020-01-01')", (cid,))
        cur.execute("INSERT INTO claims (citizen_id, kind, claim_date, request, request_hash,"
                    " status, province_code, open, start_month, last_confirmed_alive)"
                    " VALUES (%s, 'unemployment', '2025-03-01', '{}', 'h', 'approved', '01', true,"
                    " '2025-04-01', '2025-03-01')", (CLAIMANT,))
    other = psycopg2.connect(database_dsn, options=f"-c search_path={schema}")
    try:
        with pool.transaction() as cur:
            assert store.with_open_unemployment_claim(cur, [WORKER, CLAIMANT]) == {CLAIMANT}
            # what submit_claim does first (store.lock_person) cannot happen meanwhile
            for cid in (WORKER, CLAIMANT):
                with pytest.raises(psycopg2.errors.LockNotAvailable):
                    with other.cursor() as o:
                        o.execute("SELECT 1 FROM people WHERE citizen_id = %s FOR UPDATE NOWAIT",
                                  (cid,))
                other.rollback()
        with other.cursor() as o:   # the batch committed: free again
            o.execute("SELECT 1 FROM people WHERE citizen_id = %s FOR UPDATE NOWAIT", (WORKER,))
        other.rollback()
    finally:
        other.close()
        pool.close()
