"""SQL for the reporting schema."""
import psycopg2.extras


def add_to_counts(cur, deltas):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO participant_counts AS c (province_code, scheme, participants) VALUES %s"
        " ON CONFLICT (province_code, scheme) DO UPDATE"
        " SET participants = c.participants + EXCLUDED.participants, updated_at = now()",
        deltas)


def participant_counts(cur, province_code=None):
    cur.execute("SELECT province_code, scheme, participants, updated_at FROM participant_counts"
                " WHERE %(p)s::text IS NULL OR province_code = %(p)s"
                " ORDER BY province_code, scheme", {"p": province_code})
    return cur.fetchall()
