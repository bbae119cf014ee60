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
