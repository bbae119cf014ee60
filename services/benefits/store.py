"""SQL for the benefits schema."""


def upsert_person(cur, body):
    cur.execute(
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
    cur.execute("UPDATE people SET date_of_birth = %(date_of_birth)s, sex = %(sex)s,"
                " province_code = %(province_code)s, updated_at = now()"
                " WHERE citizen_id = %(citizen_id)s", body)


def mark_deceased(cur, citizen_id, date_of_death):
    cur.execute("UPDATE people SET status = 'deceased', date_of_death = %s, updated_at = now()"
                " WHERE citizen_id = %s", (date_of_death, citizen_id))
