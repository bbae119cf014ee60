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


def add_rejections(cur, keys):
    psycopg2.extras.execute_values(
        cur,
        "INSERT INTO rejection_counts AS r (day, source, event_type, rejections) VALUES %s"
        " ON CONFLICT (day, source, event_type) DO UPDATE"
        " SET rejections = r.rejections + EXCLUDED.rejections",
        # in key order, so concurrent batches lock rows in the same order
        [(day, source, event_type, n) for (day, source, event_type), n in sorted(keys.items())])


def rejection_counts(cur, since_day):
    cur.execute("SELECT day, source, event_type, rejections FROM rejection_counts"
                " WHERE day >= %s ORDER BY day, source, event_type", (since_day,))
    return cur.fetchall()


def archive(cur, events):
    """Keep consumed events, in the order they were applied."""
    psycopg2.extras.execute_values(
        cur, "INSERT INTO event_archive (event_id, exchange, routing_key, body) VALUES %s"
        " ON CONFLICT (event_id) DO NOTHING", events)
