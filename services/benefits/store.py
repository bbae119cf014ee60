"""SQL for the benefits schema."""
from shared.db import defer
from shared.outbox import append


def upsert_person(cur, body):
    defer(cur, 
        "INSERT INTO people (citizen_id, si_code, date_of_birth, sex, province_code, registered_on)"
        " VALUES (%(citizen_id)s, %(si_code)s, %(date_of_birth)s, %(sex)s, %(province_code)s,"
        " %(registered_on)s)"
        " ON CONFLICT (citizen_id) DO UPDATE SET si_code = EXCLUDED.si_code,"
        " date_of_birth = EXCLUDED.date_of_birth, sex = EXCLUDED.sex,"
        " province_code = EXCLUDED.province_code, updated_at = now()",
        body)


def get_person(cur, citizen_id):
    cur.execute("SELECT citizen_id, si_code, date_of_birth, sex, province_code, status,"
                " date_of_death FROM people WHERE citizen_id = %s", (citizen_id,))
    return cur.fetchone()


def correct_person(cur, body):
    defer(cur, "UPDATE people SET date_of_birth = %(date_of_birth)s, sex = %(sex)s,"
                " province_code = %(province_code)s, updated_at = now()"
                " WHERE citizen_id = %(citizen_id)s", body)


def mark_deceased(cur, citizen_id, date_of_death):
    defer(cur, "UPDATE people SET status = 'deceased', date_of_death = %s, updated_at = now()"
                " WHERE citizen_id = %s", (date_of_death, citizen_id))


# -- contribution history and employments (from enrolment's events) --------

def record_contribution_month(cur, row):
    """One month of contributions; a re-sent month replaces the figures (same key)."""
    defer(cur, 
        "INSERT INTO contribution_months (citizen_id, month, kind, employer_code, wage, ui_wage,"
        " source_event_id) VALUES (%(citizen_id)s, %(month)s, %(kind)s, %(employer_code)s,"
        " %(wage)s, %(ui_wage)s, %(source_event_id)s)"
        " ON CONFLICT (citizen_id, month, kind, employer_code) DO UPDATE SET wage = EXCLUDED.wage,"
        " ui_wage = EXCLUDED.ui_wage, source_event_id = EXCLUDED.source_event_id"
        " WHERE contribution_months.settled_by IS NULL", row)


def contribution_months(cur, citizen_id):
    """Months not paid out by a lump sum, one row per month and kind (wages of jobs summed)."""
    cur.execute("SELECT month, kind, sum(wage) AS wage, sum(ui_wage) AS ui_wage"
                " FROM contribution_months WHERE citizen_id = %s AND settled_by IS NULL"
                " GROUP BY month, kind ORDER BY month, kind", (citizen_id,))
    return cur.fetchall()


def settle_months(cur, citizen_id, claim_id, up_to):
    """A lump sum pays these months out: they no longer count for a later claim."""
    cur.execute("UPDATE contribution_months SET settled_by = %s WHERE citizen_id = %s"
                " AND settled_by IS NULL AND month <= %s", (claim_id, citizen_id, up_to))


def start_employment(cur, body):
    defer(cur, "INSERT INTO employments (citizen_id, employer_code, start_date, region)"
                " VALUES (%(citizen_id)s, %(employer_code)s, %(start_date)s, %(region)s)"
                " ON CONFLICT DO NOTHING", body)


def end_employment(cur, body):
    defer(cur, "UPDATE employments SET end_date = %(end_date)s, end_reason = %(reason)s"
                " WHERE citizen_id = %(citizen_id)s AND employer_code = %(employer_code)s"
                " AND end_date IS NULL", body)


def employments(cur, citizen_id):
    cur.execute("SELECT employer_code, region, start_date, end_date FROM employments"
                " WHERE citizen_id = %s ORDER BY start_date, employer_code", (citizen_id,))
    return cur.fetchall()


# -- claims -------------------------------------------------------------------

CLAIM_COLUMNS = ("claim_id, citizen_id, kind, claim_date, status, reasons, monthly_amount,"
                 " lump_sum_amount, duration_months, start_month, end_month, explanation,"
                 " rule_period, bank_account, province_code, open, suspended, stopped_from,"
                 " last_confirmed_alive, request, request_hash")


def lock_person(cur, citizen_id):
    """The person's row, locked: claims of one person are decided one at a time."""
    cur.execute("SELECT citizen_id, si_code, date_of_birth, sex, province_code, status,"
                " date_of_death FROM people WHERE citizen_id = %s FOR UPDATE", (citizen_id,))
    return cur.fetchone()


def claim_by_request(cur, citizen_id, kind, request_hash):
    cur.execute(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE citizen_id = %s AND kind = %s"
                " AND request_hash = %s", (citizen_id, kind, request_hash))
    return cur.fetchone()


def open_claim(cur, citizen_id, kind):
    cur.execute(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE citizen_id = %s AND kind = %s AND open",
                (citizen_id, kind))
    return cur.fetchone()


def close_finished_claims(cur, citizen_id, kind, before_month):
    """Unemployment benefits whose last month is before ``before_month`` are over."""
    cur.execute("UPDATE claims SET open = false WHERE citizen_id = %s AND kind = %s AND open"
                " AND end_month IS NOT NULL AND end_month < %s", (citizen_id, kind, before_month))


def insert_claim(cur, claim):
    cur.execute(
        "INSERT INTO claims (citizen_id, kind, claim_date, request, request_hash, status, reasons,"
        " monthly_amount, lump_sum_amount, duration_months, start_month, end_month, explanation,"
        " rule_period, bank_account, province_code, open, last_confirmed_alive)"
        " VALUES (%(citizen_id)s, %(kind)s, %(claim_date)s, %(request)s, %(request_hash)s,"
        " %(status)s, %(reasons)s, %(monthly_amount)s, %(lump_sum_amount)s, %(duration_months)s,"
        " %(start_month)s, %(end_month)s, %(explanation)s, %(rule_period)s, %(bank_account)s,"
        " %(province_code)s, %(open)s, %(claim_date)s) RETURNING claim_id", claim)
    return cur.fetchone()["claim_id"]


def get_claim(cur, claim_id):
    cur.execute(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE claim_id = %s", (claim_id,))
    return cur.fetchone()


def claims_sharing_account(cur, bank_account, citizen_id):
    """Claims of other people that name the same bank account."""
    cur.execute("SELECT claim_id, citizen_id FROM claims WHERE bank_account = %s"
                " AND citizen_id <> %s ORDER BY claim_id", (bank_account, citizen_id))
    return cur.fetchall()


def with_open_unemployment_claim(cur, citizen_ids):
    """Those of ``citizen_ids`` with an open unemployment claim.

    Their people rows are locked first (``FOR KEY SHARE``, in citizen-id order) and
    stay locked until the transaction ends: ``submit_claim`` locks the person
    ``FOR UPDATE``, so a claim either committed before this read (and is in the
    answer) or waits for this transaction, and is then decided knowing its job."""
    ids = sorted(set(citizen_ids))
    cur.execute("SELECT citizen_id FROM people WHERE citizen_id = ANY(%s::char(12)[])"
                " ORDER BY citizen_id FOR KEY SHARE", (ids,))
    cur.execute("SELECT DISTINCT citizen_id FROM claims WHERE citizen_id = ANY(%s::char(12)[])"
                " AND kind = 'unemployment' AND open", (ids,))
    return {row["citizen_id"] for row in cur.fetchall()}


def stop_unemployment(cur, citizen_id, from_month, started_on):
    """Re-employment on ``started_on`` stops an open unemployment benefit claimed on or
    before that day from ``from_month``; returns the claims stopped."""
    cur.execute("UPDATE claims SET stopped_from = %s, open = false WHERE citizen_id = %s"
                " AND kind = 'unemployment' AND open AND start_month IS NOT NULL"
                " AND claim_date <= %s AND (end_month IS NULL OR end_month >= %s)"
                " RETURNING claim_id", (from_month, citizen_id, started_on, from_month))
    return cur.fetchall()


def confirm_alive(cur, citizen_id, on):
    cur.execute("UPDATE claims SET last_confirmed_alive = greatest(last_confirmed_alive, %s)"
                " WHERE citizen_id = %s AND status = 'approved' RETURNING claim_id",
                (on, citizen_id))
    return [row["claim_id"] for row in cur.fetchall()]


# -- payments and flags -------------------------------------------------------

def payments_for(cur, citizen_id):
    cur.execute("SELECT period, kind, amount, run_id, claim_id FROM payments WHERE citizen_id = %s"
                " ORDER BY period, kind, claim_id", (citizen_id,))
    return cur.fetchall()


def payments_after(cur, citizen_id, month, kinds=None):
    """Payments for months from ``month`` on (of ``kinds``, or all)."""
    cur.execute("SELECT payment_id, claim_id, kind, period, amount FROM payments"
                " WHERE citizen_id = %s AND period >= %s AND (%s::text[] IS NULL OR kind = ANY(%s))"
                " ORDER BY period", (citizen_id, month, kinds, kinds))
    return cur.fetchall()


def insert_flag(cur, flag):
    """A new fraud flag; None if the same finding was flagged before."""
    cur.execute("INSERT INTO fraud_flags (kind, citizen_id, claim_id, detail, amount, dedupe_key)"
                " VALUES (%(kind)s, %(citizen_id)s, %(claim_id)s, %(detail)s, %(amount)s,"
                " %(dedupe_key)s) ON CONFLICT (dedupe_key) DO NOTHING"
                " RETURNING flag_id, created_at", flag)
    return cur.fetchone()


def flags(cur, status, after_id, limit):
    cur.execute("SELECT flag_id, kind, citizen_id, claim_id, detail, amount, status, created_at"
                " FROM fraud_flags WHERE (%s::text IS NULL OR status = %s) AND flag_id > %s"
                " ORDER BY flag_id LIMIT %s", (status, status, after_id, limit))
    return cur.fetchall()


def close_flag(cur, flag_id, note):
    cur.execute("UPDATE fraud_flags SET status = 'closed',"
                " detail = detail || jsonb_build_object('closing_note', %s::text)"
                " WHERE flag_id = %s AND status = 'open' RETURNING flag_id", (note, flag_id))
    return cur.fetchone() is not None


# -- payment runs -------------------------------------------------------------

RUN_COLUMNS = ("run_id, period, status, upto_claim_id, done_claim_id, payments, total_amount,"
               " skipped, totals, started_at, completed_at")


def start_run(cur, period):
    """The run of ``period``, created if new: it pays the claims decided up to now."""
    cur.execute("INSERT INTO payment_runs (period, upto_claim_id)"
                " SELECT %s, coalesce(max(claim_id), 0) FROM claims"
                " ON CONFLICT (period) DO NOTHING", (period,))
    return lock_run(cur, period)


def lock_run(cur, period):
    cur.execute(f"SELECT {RUN_COLUMNS} FROM payment_runs WHERE period = %s FOR UPDATE", (period,))
    return cur.fetchone()


def lock_run_period(cur, period):
    """Instances running the same period take turns chunk by chunk."""
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("vss-payment-run:" + period.isoformat(),))


# One statement pays a chunk of claims: what is due, why some are skipped,
# the payments (a unique key makes a second payment impossible) and lump sums
# closed once paid. Their payment_made events are written by ANNOUNCE_CHUNK.
PAY_CHUNK = """
WITH due AS (
    SELECT c.claim_id, c.citizen_id, c.kind, p.province_code,
           CASE WHEN c.kind = 'lump_sum' THEN c.lump_sum_amount ELSE c.monthly_amount END AS amount,
           CASE WHEN p.date_of_death IS NOT NULL AND p.date_of_death <= %(last)s THEN 'deceased'
                WHEN c.suspended THEN 'suspended'
                WHEN c.stopped_from IS NOT NULL AND c.stopped_from <= %(first)s THEN 're_employed'
                WHEN c.kind <> 'lump_sum' AND c.last_confirmed_alive < %(alive_since)s
                     THEN 'proof_of_life_overdue'
           END AS skip
      FROM claims c JOIN people p USING (citizen_id)
     WHERE c.status = 'approved' AND c.claim_id > %(after)s AND c.claim_id <= %(upto)s
       AND c.start_month <= %(first)s
       AND CASE WHEN c.kind = 'lump_sum' THEN c.open
                ELSE c.end_month IS NULL OR c.end_month >= %(first)s END
), paid AS (
    INSERT INTO payments (run_id, claim_id, citizen_id, kind, period, amount, province_code)
    SELECT %(run_id)s, claim_id, citizen_id, kind, %(first)s, amount, province_code
      FROM due WHERE skip IS NULL
    ON CONFLICT DO NOTHING
    RETURNING claim_id, citizen_id, kind, amount, province_code
), closed AS (
    UPDATE claims c SET open = false FROM paid
     WHERE c.claim_id = paid.claim_id AND paid.kind = 'lump_sum'
)
SELECT 'paid' AS what, province_code, kind, count(*) AS n, coalesce(sum(amount), 0) AS amount
  FROM paid GROUP BY province_code, kind
UNION ALL
SELECT skip, NULL, NULL, count(*), 0 FROM due WHERE skip IS NOT NULL GROUP BY skip
"""


def pay_chunk(cur, params):
    cur.execute(PAY_CHUNK, params)
    return cur.fetchall()


# payment_made for the payments the chunk just made (one run per period, and a
# chunk commits with its progress, so the payments of the period in the chunk's
# claim range are this chunk's): for every payment, or for lump sums only.
ANNOUNCE_CHUNK = """
INSERT INTO outbox (event_id, exchange, event_type, body)
SELECT e.id, %(exchange)s, 'payment_made', json_build_object(
           'event_id', e.id, 'occurred_at', to_char(now() AT TIME ZONE 'UTC',
                                                    'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
           'citizen_id', e.citizen_id, 'claim_id', e.claim_id, 'kind', e.kind,
           'period', %(period_text)s, 'amount', e.amount, 'run_id', %(run_id)s,
           'province_code', e.province_code)
  FROM (SELECT gen_random_uuid() AS id, p.* FROM payments p
         WHERE p.claim_id > %(after)s AND p.claim_id <= %(upto)s AND p.period = %(first)s
           AND p.run_id = %(run_id)s
           AND (%(per_payment_events)s OR (%(lump_sum_events)s AND p.kind = 'lump_sum'))
         ORDER BY p.claim_id) e
"""


def announce_chunk(cur, params):
    """The chunk's payment_made events, under the outbox's append lock: call it
    after the chunk's other writes, just before the commit (``shared.outbox.append``)."""
    if params["per_payment_events"] or params["lump_sum_events"]:
        append(cur, ANNOUNCE_CHUNK, params)


def save_run_progress(cur, run):
    cur.execute("UPDATE payment_runs SET done_claim_id = %(done_claim_id)s, payments = %(payments)s,"
                " total_amount = %(total_amount)s, skipped = %(skipped)s, totals = %(totals)s,"
                " status = %(status)s, completed_at = CASE WHEN %(status)s = 'completed'"
                " THEN now() END WHERE run_id = %(run_id)s", run)


def get_run(cur, period):
    cur.execute(f"SELECT {RUN_COLUMNS} FROM payment_runs WHERE period = %s", (period,))
    return cur.fetchone()


def history_summary(cur, citizen_id):
    cur.execute("SELECT kind, count(DISTINCT month) AS months, min(month) AS first_month,"
                " max(month) AS last_month, count(DISTINCT month) FILTER (WHERE ui_wage IS NOT NULL)"
                " AS ui_months, count(*) FILTER (WHERE settled_by IS NOT NULL) AS settled"
                " FROM contribution_months WHERE citizen_id = %s GROUP BY kind ORDER BY kind",
                (citizen_id,))
    return cur.fetchall()


def set_suspended(cur, claim_id, suspended):
    cur.execute("UPDATE claims SET suspended = %s WHERE claim_id = %s AND status = 'approved'"
                " RETURNING claim_id", (suspended, claim_id))
    return cur.fetchone() is not None


def paid_after_death_in_run(cur, run_id, period):
    """People this run paid for a month after their death (deaths applied during the run)."""
    cur.execute("SELECT DISTINCT p.citizen_id, x.date_of_death FROM payments p"
                " JOIN people x USING (citizen_id)"
                " WHERE p.run_id = %s AND p.period = %s AND x.date_of_death IS NOT NULL"
                " AND p.period > x.date_of_death", (run_id, period))
    return cur.fetchall()
