"""What the benchmarks share: synthetic people."""
import random
import uuid

from services.enrolment.domain.citizen_id import make_citizen_id
from shared.provinces import OLD_PROVINCES

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


# -- people for the mixed-intake benchmark (bench.intake_mixed) ---------------

SYNTHETIC_PROVINCES = sorted(OLD_PROVINCES)
SYNTHETIC_FIRST_YEAR, SYNTHETIC_YEARS = 1950, 58          # born 1950-2007: 17 or older in 2025


def synthetic_person(index):
    """Person number ``index`` (0, 1, ...): a pure function of the index.

    The index is read as a mixed-radix number (province, sex, birth year,
    serial), so every index gives a different valid citizen id and none of
    the bench's generators needs to remember which ids it has used.
    """
    import datetime as dt
    province = SYNTHETIC_PROVINCES[index % len(SYNTHETIC_PROVINCES)]
    rest = index // len(SYNTHETIC_PROVINCES)
    sex = ("male", "female")[rest % 2]
    rest //= 2
    year = SYNTHETIC_FIRST_YEAR + rest % SYNTHETIC_YEARS
    serial = rest // SYNTHETIC_YEARS
    assert serial < 1_000_000, "index too large for distinct citizen ids"
    return {"citizen_id": make_citizen_id(province, sex, year, serial),
            "date_of_birth": dt.date(year, 1 + (index * 7) % 12, 1 + (index * 11) % 28),
            "sex": sex, "province_code": province}


BARE_QUEUE = "bench.bare"


def declare_bare_queue(amqp_uri):
    """The plain exchange and queue a bench's bare consumer reads; returns the queue."""
    from kombu import Connection
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        channel.exchange_declare(BARE_QUEUE, "topic", durable=True, auto_delete=False)
        channel.queue_declare(BARE_QUEUE, durable=True, auto_delete=False)
        channel.queue_bind(BARE_QUEUE, BARE_QUEUE, "#")
    return BARE_QUEUE
