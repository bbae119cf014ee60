"""What the benchmarks share: a throw-away database and vhost, synthetic people."""
import contextlib
import os
import random
import secrets
import subprocess
import uuid
from urllib.parse import quote

import psycopg2

from services.enrolment.domain.citizen_id import make_citizen_id
from shared.provinces import OLD_PROVINCES

PG_ADMIN_DSN = os.environ.get("VSS_BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("VSS_BENCH_AMQP_BASE", "pyamqp://guest:guest@127.0.0.1:5672")


def _admin(statement):
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


@contextlib.contextmanager
def scratch_environment():
    """A fresh database and vhost; yields ``(dsn, amqp_uri)`` and removes both after."""
    name = f"vss_bench_{secrets.token_hex(4)}"
    vhost = name.replace("_", "-")
    _admin(f'CREATE DATABASE "{name}"')
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name, f"{AMQP_BASE}/{quote(vhost, safe='')}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], stdout=subprocess.DEVNULL)
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def registrations(count, seed=20261122):
    """``count`` valid person.registered envelopes with distinct citizen ids."""
    rng = random.Random(seed)
    provinces = sorted(OLD_PROVINCES)
    for serial in range(count):
        sex = rng.choice(("male", "female"))
        year = rng.randint(1950, 2020)
        province = rng.choice(provinces)
        yield {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "event_type": "person.registered",
            "occurred_at": "2024-01-16T09:51:00+07:00",
            "source": "commune-registry",
            "payload": {
                "citizen_id": make_citizen_id(province, sex, year, serial),
                "full_name": "Synthetic Person", "date_of_birth": f"{year}-06-15",
                "sex": sex, "province_code": province,
            },
        }
