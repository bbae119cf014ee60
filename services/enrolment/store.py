"""SQL for the enrolment schema."""
import json

PERSON_COLUMNS = ("citizen_id, si_code, full_name, date_of_birth, sex, province_code,"
                  " district_code, commune_code, household_id, ethnic_minority, status,"
                  " registered_on")


def insert_person(cur, person, registered_on, source_event_id):
    """Insert and return the SI code, or None if the citizen id is taken."""
    cur.execute(
        "INSERT INTO people (citizen_id, si_code, full_name, date_of_birth, sex, province_code,"
        " district_code, commune_code, household_id, ethnic_minority, registered_on,"
        " source_event_id)"
        " VALUES (%(citizen_id)s, %(province_code)s"
        " || lpad(nextval(('si_serial_' || %(province_code)s)::regclass)::text, 8, '0'),"
        " %(full_name)s, %(date_of_birth)s, %(sex)s, %(province_code)s, %(district_code)s,"
        " %(commune_code)s, %(household_id)s, %(ethnic_minority)s, %(registered_on)s,"
        " %(source_event_id)s)"
        " ON CONFLICT (citizen_id) DO NOTHING RETURNING si_code",
        dict(person, registered_on=registered_on, source_event_id=source_event_id))
    row = cur.fetchone()
    return row["si_code"] if row else None


def get_person(cur, citizen_id=None, si_code=None):
    column, value = ("citizen_id", citizen_id) if citizen_id else ("si_code", si_code)
    cur.execute(f"SELECT {PERSON_COLUMNS} FROM people WHERE {column} = %s", (value,))
    return cur.fetchone()


def insert_rejection(cur, event_id, event_type, source, reasons, body):
    cur.execute(
        "INSERT INTO rejections (event_id, event_type, source, reasons, body)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
        (event_id, event_type, source, json.dumps(reasons, ensure_ascii=False), body))


def intake_status(cur, event_id):
    cur.execute("SELECT i.status, r.reasons FROM inbox i"
                " LEFT JOIN rejections r ON r.event_id = i.event_id WHERE i.event_id = %s",
                (event_id,))
    return cur.fetchone()


def list_rejections(cur, since, after_event_id, limit):
    """Oldest first from ``since``; page on with the last (received_at, event_id)."""
    cur.execute(
        "SELECT event_id, event_type, source, reasons, received_at FROM rejections"
        " WHERE (received_at, event_id) > (%s, %s)"
        " ORDER BY received_at, event_id LIMIT %s",
        (since, after_event_id or "", limit))
    return cur.fetchall()
