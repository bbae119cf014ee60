"""A province's worth of synthetic intake events, as the outside systems would publish them.

    from deploy.synthetic import generate
    for event_type, envelope in generate("42", people=100_000, seed=20261122):
        ...  # publish envelope to enrolment.intake with routing key event_type

Seeded and reproducible: the same province, size, seed and ``today`` give the
same events, event ids included, so publishing them twice changes nothing (the
second copy of each ``event_id`` is ignored, contract 1.10).

What the events describe, with proportions from the handbook's DOMAIN.md
(national figures, end of 2025) where it gives them:

- people with Vietnam's age pyramid and sex ratio (approximate GSO figures, kept
  below), citizen ids whose digits agree with sex and birth year, in households
  of about 3.5 people (couples, their children, some grandparents) with
  household ids, communes and, before 1 Jul 2025, districts;
- compulsory SI: 38.6% of the working-age labour force employed now, with
  ``employment.started`` at employers of each kind (the kind's HI group), in the
  province's minimum-wage regions, salaries at least the floor of the date and
  spread above it, careers back to 1995 for older workers, salary changes when
  the base salary or the regional minimum wage rose, jobs ended and changed;
  about 3.5% of employees lost a job in the last three months; retired workers'
  careers end when they reach retirement age;
- voluntary SI: 6.5% of the working-age labour force, paying 1, 3, 6 or 12
  months at a time from 2022 (the first rural poverty line in the data), priced
  exactly by ``services.enrolment.domain.contributions.voluntary_si`` with the
  support group of their household (poor, near-poor, ethnic minority, other);
- health insurance for 95.16% of the population: employment cards, ``TE`` for
  children under 6, ``HS``/``SV`` for pupils and students, ``HN``/``CN`` for
  poor and near-poor households, ``DT`` for ethnic minorities in hard areas,
  ``HT`` for pensioners and ``CC`` for some of the elderly (``health.enrolled``,
  payer ``state`` except pupils and students, whose families pay the rest),
  and household HI (``GD``) paid by the other households for all their
  uncovered members at once, member k paying the k-th tier (contract 1.6);
- a sponsored programme (``programme()``, to create over RPC before publishing)
  with seven sponsors and a goal of 630 SI books and 1,260 HI cards, of which a
  share scaled to the province's size is granted (``sponsorship.granted``,
  priced as contract 1.6 says) to people in hardship without cover;
- deaths in the last twelve months (about 0.6% of the population, mostly the
  elderly), each person's ``person.died`` after their other events.

Order: a household's registrations come first, then each member's events in
the order they happened, then the household's HI payment, then its deaths.
Events that happened before the person was registered (a career from 1995, for
instance) are reported on the registration day: the register itself starts in
2016, when the HI group tables of the data start. Every date is before today.

The generator also keeps what a demo needs besides the events: claims the
people could make (``Household.claims``), the province's population and
working-age labour force (``SyntheticProvince.stats``) for denominators.
"""
import bisect
import datetime as dt
import hashlib
import math
import random
import uuid
from collections import Counter, defaultdict

from services.benefits.domain.retirement import retirement_age
from services.benefits.reference import REFERENCE as BENEFITS_REFERENCE
from services.enrolment.domain.citizen_id import make_citizen_id
from services.enrolment.domain.compulsory import wage_floor
from services.enrolment.domain.contributions import household_hi, voluntary_si
from services.enrolment.reference import REFERENCE
from shared.envelope import today_in
from shared.reference import OutOfRange
from shared.provinces import NEW_PROVINCES, OLD_PROVINCES, OLD_TO_NEW, REORGANISED_ON

DEFAULT_PROVINCE, DEFAULT_PEOPLE, DEFAULT_SEED = "42", 100_000, 20261122
BLOCK = 2_000                         # people generated (and matched into households) at a time

# -- shares from DOMAIN.md (national, end of 2025) -------------------------------
COMPULSORY_SHARE = 0.386              # of the working-age labour force
VOLUNTARY_SHARE = 0.065               # of the working-age labour force
HEALTH_TARGET = 0.9516                # of the population (sets how many households buy GD)
RECENTLY_UNEMPLOYED = 0.035           # of employees: lost a job in the last 3 months
DEATH_RATE = 0.006                    # a year
PROGRAMME_GOAL_BOOKS, PROGRAMME_GOAL_CARDS = 630, 1_260   # one programme event in the news
PROGRAMME_SHARE_AT_100K = 0.85        # of the goal granted in a province of 100,000 people

# -- Vietnam's population (approximate GSO estimates for 2024; verify) ------------
AGE_PYRAMID = [  # (first age, last age, percent of the population)
    (0, 4, 7.0), (5, 9, 8.0), (10, 14, 7.8), (15, 19, 7.0), (20, 24, 6.6), (25, 29, 7.4),
    (30, 34, 8.2), (35, 39, 8.0), (40, 44, 7.4), (45, 49, 6.8), (50, 54, 6.2), (55, 59, 5.6),
    (60, 64, 4.6), (65, 69, 3.6), (70, 74, 2.4), (75, 79, 1.5), (80, 84, 1.0), (85, 89, 0.6),
    (90, 94, 0.3), (95, 99, 0.1)]
MALE_SHARE = [(15, 0.527), (40, 0.512), (60, 0.5), (75, 0.46), (200, 0.39)]  # below the age

SURNAMES = [("Nguyễn", 38), ("Trần", 11), ("Lê", 9.5), ("Phạm", 7), ("Hoàng", 5.1), ("Phan", 4.5),
            ("Võ", 3.9), ("Vũ", 3), ("Đặng", 2.1), ("Bùi", 2), ("Đỗ", 1.4), ("Hồ", 1.3),
            ("Ngô", 1.3), ("Dương", 1), ("Lý", 0.5)]
ETHNIC_SURNAMES = [("Lò", 3), ("Tòng", 2), ("Giàng", 3), ("Vàng", 2), ("Lường", 2), ("Sùng", 2),
                   ("Lầu", 1), ("Tẩn", 1), ("Hà", 2), ("Lý", 1)]
MIDDLE = {"male": ["Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Xuân", "Đình", "Thanh"],
          "female": ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Hồng", "Kim", "Phương", "Mai"]}
GIVEN = {"male": ["Anh", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy",
                  "Khánh", "Long", "Minh", "Nam", "Phong", "Phúc", "Quân", "Sơn", "Thắng",
                  "Thành", "Trung", "Tuấn", "Việt", "Vinh"],
         "female": ["Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hồng",
                    "Huyền", "Hương", "Lan", "Linh", "Loan", "Mai", "Nga", "Ngọc", "Nhung",
                    "Oanh", "Phương", "Quỳnh", "Thảo", "Trang", "Vân", "Yến"]}

# -- the province ---------------------------------------------------------------
# Shares of employers in minimum-wage regions 1-4 (Decree 74/2024/NĐ-CP lists the
# communes; these are rough shares). Hà Tĩnh: Kỳ Anh region 2, the city region 3,
# the rest region 4.
REGION_MIX = {"01": (0.7, 0.2, 0.1, 0), "79": (0.8, 0.15, 0.05, 0), "31": (0.6, 0.3, 0.1, 0),
              "48": (0.5, 0.3, 0.2, 0), "92": (0.3, 0.5, 0.2, 0), "75": (0.6, 0.3, 0.1, 0),
              "42": (0, 0.12, 0.33, 0.55), "12": (0, 0, 0.25, 0.75), "11": (0, 0, 0.3, 0.7)}
DEFAULT_REGION_MIX = (0.05, 0.2, 0.35, 0.4)
ETHNIC_SHARE = {"42": 0.005, "12": 0.84, "11": 0.82, "14": 0.83, "04": 0.95, "08": 0.55,
                "15": 0.6, "20": 0.83, "52": 0.45, "66": 0.3, "68": 0.25, "01": 0.01, "79": 0.06}
DEFAULT_ETHNIC_SHARE = 0.10
POOR_SHARES = {"42": (0.025, 0.04), "12": (0.16, 0.07), "11": (0.2, 0.08), "14": (0.15, 0.07)}
DEFAULT_POOR_SHARES = (0.02, 0.03)   # households poor, near-poor (multidimensional, about 2025)

EMPLOYER_KINDS = [("enterprise", "DN", 70), ("civil_service", "HC", 10), ("state_body", "CH", 8),
                  ("cooperative", "HX", 2), ("foreign_organisation", "NN", 3),
                  ("other_employer", "TK", 4), ("commune_part_time", "XK", 3)]
STATE_KINDS = {"civil_service", "state_body", "commune_part_time"}
RETIREE_KINDS = {"enterprise": 40, "civil_service": 33, "state_body": 20, "cooperative": 7}
END_REASONS = [("contract_ended", 5), ("resigned", 4), ("laid_off", 2)]
MAX_CHANGES = 6                       # salary changes reported per job
CHANNELS = ["post_office", "bank_transfer", "vssid_app", "collection_agent"]
SPONSORS = ["Vietcombank {}", "BIDV {}", "Agribank {}", "VietinBank {}", "Bưu điện tỉnh {}",
            "Bảo Việt Nhân thọ {}", "Công ty Điện lực {}"]

REGISTER_OPENS = dt.date(2016, 1, 4)      # the HI group and employer-kind tables start on 1 Jan 2016
FIRST_CONTRIBUTION = dt.date(1995, 1, 1)  # compulsory rates in the data start in January 1995
FIRST_VOLUNTARY = dt.date(2022, 1, 1)     # the rural poverty line in the data starts in 2022


def _add_months(day, months):
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def _add_years(day, years):
    return _add_months(day, 12 * years)


def _month(day):
    return day.replace(day=1)


def _month_index(day):
    return day.year * 12 + day.month - 1


def _years(first, last):
    return (last - first).days / 365.25


def _stable_int(text):
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16)


def _weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    point = rng.random() * total
    for value, weight in pairs:
        point -= weight
        if point < 0:
            return value
    return pairs[-1][0]


def _pick_weighted(rng, items, weights, count):
    """``count`` distinct items, each drawn with probability proportional to its weight."""
    keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights) if w > 0]
    keyed.sort(reverse=True)
    return [items[i] for _, i in keyed[:count]]


def _date_between(rng, first, last):
    if last <= first:
        return first
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def _ceil_to(amount, step=10_000):
    return int(math.ceil(amount / step) * step)


def _change_dates():
    days = {row.valid_from for row in REFERENCE.history("base_salary")}
    days |= {row.valid_from for row in REFERENCE.history("regional_minimum_wage")}
    return sorted(d for d in days if d >= FIRST_CONTRIBUTION)


CHANGE_DATES = _change_dates()


def olds_of(province_code):
    """The pre-2025 provinces a code covers: a province of today's map (34) stands for the old
    provinces merged into it; an old code that is not on today's map stands for itself."""
    if province_code in NEW_PROVINCES:
        return sorted(old for old, new in OLD_TO_NEW.items() if new == province_code)
    return [province_code]


def new_unit(province_code):
    """The province of today's map a code belongs to."""
    return province_code if province_code in NEW_PROVINCES else OLD_TO_NEW[province_code]


def province_name(province_code):
    return NEW_PROVINCES.get(new_unit(province_code), OLD_PROVINCES.get(province_code, province_code))


# -- people ----------------------------------------------------------------------

class Job:
    __slots__ = ("employer", "start", "end", "reason", "salaries")

    def __init__(self, employer, start, end, reason):
        self.employer, self.start, self.end, self.reason = employer, start, end, reason
        self.salaries = []


class Person:
    __slots__ = ("sex", "dob", "age", "household", "citizen_id", "name", "registered", "born_in",
                 "retires_on", "retired", "student", "labour_force", "role", "jobs", "card",
                 "voluntary", "died", "claim", "grant", "paid_household", "covered")

    def __init__(self, sex, dob, age):
        self.sex, self.dob, self.age = sex, dob, age
        self.household = None
        self.student = None          # HS, SV
        self.labour_force = False
        self.role = None             # employed, unemployed, voluntary, retired
        self.jobs = []
        self.card = None             # (group, valid_from, months, payer, issued_on)
        self.voluntary = []          # contribution.paid payloads with their payment day
        self.died = None
        self.claim = None
        self.grant = None
        self.paid_household = False
        self.covered = False
        self.retires_on = None       # the day the person reaches retirement age (40 and over)
        self.retired = False         # reached it before today

    @property
    def working_age(self):
        return self.age >= 15 and not self.retired


class Household:
    __slots__ = ("household_id", "members", "commune", "district", "old_unit", "poor", "near_poor",
                 "ethnic", "hard_area", "buys_hi", "events", "claims")

    def __init__(self, household_id, members):
        self.household_id, self.members = household_id, members
        self.events, self.claims = [], []


class SyntheticProvince:
    """Generates a province block by block; ``households()`` yields them in publish order.

    ``stats`` fills as households are generated (complete once they all have been).
    """

    def __init__(self, province_code=DEFAULT_PROVINCE, people=DEFAULT_PEOPLE, seed=DEFAULT_SEED,
                 today=None):
        if province_code not in OLD_PROVINCES and province_code not in NEW_PROVINCES:
            raise ValueError(f"unknown province code {province_code!r}")
        if people < 1:
            raise ValueError("people must be at least 1")
        self.province_code, self.people, self.seed = province_code, int(people), int(seed)
        self.today = today or today_in()
        self.last_day = self.today - dt.timedelta(days=1)
        self.current_month = _month(self.last_day)
        self.olds = olds_of(province_code)
        self.unit = new_unit(province_code)
        self.name = province_name(province_code)
        self.regions = REGION_MIX.get(self.unit, DEFAULT_REGION_MIX)
        self.ethnic_share = ETHNIC_SHARE.get(self.unit, DEFAULT_ETHNIC_SHARE)
        self.poor_share, self.near_poor_share = POOR_SHARES.get(self.unit, DEFAULT_POOR_SHARES)
        self.grant_day = max(self.today - dt.timedelta(days=10), REGISTER_OPENS)
        scale = min(1.0, PROGRAMME_SHARE_AT_100K * self.people / 100_000)
        self.books_wanted = round(PROGRAMME_GOAL_BOOKS * scale)
        self.cards_wanted = round(PROGRAMME_GOAL_CARDS * scale)
        self.stats = Counter()
        self._retirement_cache = {}
        self._prices = {}

    # -- public -----------------------------------------------------------------

    def events(self, skip=()):
        """``(event_type, envelope)`` in publish order; households whose id is in ``skip`` are left out."""
        for household in self.households():
            if household.household_id not in skip:
                yield from household.events

    def households(self):
        self._reset()
        done = 0
        block = 0
        while done < self.people:
            size = min(BLOCK, self.people - done)
            yield from self._block(block, size)
            done += size
            block += 1

    def programme(self):
        """The sponsored programme to create (``enrolment.create_programme``) before publishing."""
        book, card = self.book_price(), self.card_price()
        budget = PROGRAMME_GOAL_BOOKS * book + PROGRAMME_GOAL_CARDS * card
        return {"programme_code": self.programme_code,
                "name": f"Trao tặng sổ BHXH, thẻ BHYT cho người có hoàn cảnh khó khăn, {self.name}"
                        f" {self.grant_day.year}",
                "sponsors": self.sponsors, "goal_books": PROGRAMME_GOAL_BOOKS,
                "goal_cards": PROGRAMME_GOAL_CARDS,
                "budget": int(math.ceil(budget * 1.02 / 1_000_000) * 1_000_000)}

    @property
    def programme_code(self):
        return f"SPONSOR-{self.unit}-{self.seed}"[:32]

    @property
    def sponsors(self):
        return [pattern.format(self.name) for pattern in SPONSORS]

    def book_price(self, months=12):
        poverty_line = REFERENCE.value("rural_poverty_line", self.grant_day)
        return voluntary_si(REFERENCE, poverty_line, months, "other", self.grant_day, 0) \
            .amounts["total_payable"]

    def card_price(self, months=12):
        return household_hi(REFERENCE, 1, 12, self.grant_day).amounts["members"][0]["monthly"] * months

    # -- generation -------------------------------------------------------------

    def _reset(self):
        self.stats = Counter()
        self._serials = Counter()
        self._serial_base = _stable_int(f"serial:{self.unit}:{self.seed}") % 50 * 20_000
        self._books = self._cards = 0
        self._people_done = 0
        rng = random.Random(f"{self.seed}:{self.province_code}:employers")
        self._employers = self._employer_pool(rng)

    def _employer_pool(self, rng):
        count = max(30, self.people // 60)
        pool = defaultdict(list)
        for index in range(count):
            kind, prefix = _weighted(rng, [((k, p), w) for k, p, w in EMPLOYER_KINDS])
            region = _weighted(rng, [(r + 1, w) for r, w in enumerate(self.regions) if w])
            code = f"{prefix}{self.unit}{index:05d}"
            pool[kind].append((code, kind, region, 1.0 / (len(pool[kind]) + 1) ** 0.9))
        return {kind: (rows, list(_cumulative([r[3] for r in rows]))) for kind, rows in pool.items()}

    def _employer(self, rng, kinds=None):
        kinds = kinds or {k: w for k, _, w in EMPLOYER_KINDS}
        kind = _weighted(rng, [(k, w) for k, w in kinds.items() if k in self._employers])
        rows, cumulative = self._employers[kind]
        return rows[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])][:3]

    def _block(self, block, size):
        rng = random.Random(f"{self.seed}:{self.province_code}:{block}")
        people = [self._person(rng) for _ in range(size)]
        households = self._form_households(rng, people, block)
        for household in households:
            self._household_traits(rng, household)
            for person in household.members:
                self._identity(rng, household, person)
        self._roles(rng, people)
        for household in households:
            for person in household.members:
                self._careers(rng, household, person)
        self._deaths(rng, people)
        for household in households:
            self._cover(rng, household)
        self._grants(rng, people, size)
        for household in households:
            self._claims(household)
            household.events = self._publishable(rng, household)
            self._count(household)
        self._people_done += size
        return households

    def _person(self, rng):
        first, last, _ = _weighted(rng, [((a, b, w), w) for a, b, w in AGE_PYRAMID])
        age = first + rng.random() * (last - first + 1)
        dob = self.today - dt.timedelta(days=max(1, int(age * 365.25)))
        male = next(share for limit, share in MALE_SHARE if age < limit)
        return Person("male" if rng.random() < male else "female", dob, _years(dob, self.today))

    # -- households ---------------------------------------------------------------

    def _form_households(self, rng, people, block):
        """Couples, their children and young adults, some grandparents, and people alone."""
        def married(age):
            return 0.0 if age < 20 else 0.4 if age < 25 else 0.72 if age < 30 else \
                0.86 if age < 65 else 0.7 if age < 75 else 0.45

        men = defaultdict(list)
        for person in people:
            if person.sex == "male" and person.age >= 20:
                men[int(person.age)].append(person)
        for ages in men.values():
            rng.shuffle(ages)
        units, dependants, elders = [], [], []
        women = [p for p in people if p.sex == "female" and p.age >= 18]
        rng.shuffle(women)
        partnered = set()
        for woman in women:
            if rng.random() < married(woman.age):
                for gap in (2, 3, 1, 4, 5, 0, 6, 7, 8, -1, -2):
                    pool = men.get(int(woman.age) + gap)
                    if pool:
                        man = pool.pop()
                        partnered.add(id(man))
                        units.append([man, woman])
                        break
                else:
                    self._single(rng, woman, units, dependants, elders)
            else:
                self._single(rng, woman, units, dependants, elders)
        for person in people:
            if person.sex == "male" and person.age >= 18 and id(person) not in partnered:
                self._single(rng, person, units, dependants, elders)
            elif person.age < 18:
                dependants.append(person)
        mothers = defaultdict(list)   # age of the woman of a unit (or its lone man) -> units
        for unit in units:
            parent = next((p for p in unit if p.sex == "female"), unit[0])
            mothers[int(parent.age)].append(unit)
        by_age = defaultdict(list)    # age of the oldest of a unit's first two -> units
        for unit in units:
            by_age[int(max(p.age for p in unit[:2]))].append(unit)
        for person in sorted(dependants, key=lambda p: -p.age):
            unit = self._parents_for(rng, mothers, person) or self._elders_of(rng, by_age, person, 18, 60)
            if unit is None:
                units.append([person])
            else:
                unit.append(person)
        # many young couples live with the husband's parents (three generations)
        movers = [u for u in units if len(u) >= 2 and u[0].sex == "male" and u[0].age < 45
                  and rng.random() < 0.45]
        staying = {id(u) for u in units} - {id(u) for u in movers}
        moved = set()
        for unit in movers:
            home = self._elders_of(rng, by_age, unit[0], 20, 40, among=staying)
            if home is not None and len(home) + len(unit) <= 8:
                home.extend(unit)
                moved.add(id(unit))
        units = [u for u in units if id(u) not in moved]
        for elder in elders:
            homes = [u for gap in range(20, 46) for u in by_age.get(int(elder.age) - gap, ())
                     if len(u) < 7 and id(u) not in moved]
            if homes and rng.random() < 0.8:
                rng.choice(homes).append(elder)
            else:
                units.append([elder])
        rng.shuffle(units)
        prefix = f"{self.unit}-{self.seed % 100_000_000}-{block:05d}"
        return [Household(f"{prefix}-{n:04d}", unit) for n, unit in enumerate(units)]

    @staticmethod
    def _single(rng, person, units, dependants, elders):
        if person.age < 30 and rng.random() < 0.9:
            dependants.append(person)
        elif person.age >= 65:
            elders.append(person)
        else:
            units.append([person])

    @staticmethod
    def _parents_for(rng, mothers, person):
        gaps = list(range(20, 35)) + list(range(18, 20)) + list(range(35, 46))
        start = rng.randint(0, 6)
        for gap in gaps[start:] + gaps[:start]:
            candidates = [u for u in mothers.get(int(person.age) + gap, ())
                          if sum(1 for p in u if p.age < 30) < 4]
            if candidates:
                return rng.choice(candidates)
        return None

    @staticmethod
    def _elders_of(rng, by_age, person, least, most, among=None):
        """A unit whose elder member is ``least``-``most`` years older than ``person``."""
        gaps = list(range(least, most + 1))
        rng.shuffle(gaps)
        for gap in gaps:
            homes = [u for u in by_age.get(int(person.age) + gap, ())
                     if len(u) < 7 and (among is None or id(u) in among)]
            if homes:
                return rng.choice(homes)
        return None

    def _household_traits(self, rng, household):
        household.ethnic = rng.random() < self.ethnic_share
        poor_factor = 3.0 if household.ethnic else 1.0
        roll = rng.random()
        household.poor = roll < self.poor_share * poor_factor
        household.near_poor = not household.poor \
            and roll < (self.poor_share + self.near_poor_share) * poor_factor
        household.hard_area = household.ethnic and rng.random() < 0.7
        household.old_unit = self.olds[0] if len(self.olds) == 1 else rng.choice(self.olds)
        commune_count = max(3, self.people // 8_000)
        commune = _stable_int(f"{household.household_id}") % commune_count
        household.commune = f"{(int(self.unit) * 431 + commune) % 90_000 + 10_000:05d}"
        household.district = f"{(int(household.old_unit) * 10 + commune % 12) % 1000:03d}"
        household.buys_hi = None

    def _identity(self, rng, household, person):
        person.household = household
        born_in = household.old_unit if rng.random() < 0.9 else rng.choice(sorted(OLD_PROVINCES))
        person.born_in = born_in
        digit_key = (born_in, person.sex, person.dob.year)
        serial = (self._serial_base + self._serials[digit_key]) % 1_000_000
        self._serials[digit_key] += 1
        person.citizen_id = make_citizen_id(born_in, person.sex, person.dob.year, serial)
        surnames = ETHNIC_SURNAMES if household.ethnic else SURNAMES
        person.name = " ".join((_weighted(rng, surnames), rng.choice(MIDDLE[person.sex]),
                                rng.choice(GIVEN[person.sex])))
        if person.dob >= REGISTER_OPENS - dt.timedelta(days=30):
            registered = person.dob + dt.timedelta(days=rng.randint(3, 45))
        else:
            registered = _date_between(rng, REGISTER_OPENS, dt.date(2017, 12, 29))
        person.registered = min(max(registered, REGISTER_OPENS, person.dob), self.last_day)
        person.retires_on = self._retires_on(person) if person.age >= 40 else None
        person.retired = person.retires_on is not None and person.retires_on <= self.today

    def _retires_on(self, person):
        key = (person.sex, person.dob)
        if key not in self._retirement_cache:
            try:
                reached = retirement_age(BENEFITS_REFERENCE, person.sex, person.dob).reached_on
            except OutOfRange:  # reached before the data's first row (1995): 60 or 55 then
                reached = _add_years(person.dob, 60 if person.sex == "male" else 55)
            self._retirement_cache[key] = reached
        return self._retirement_cache[key]

    # -- who does what ------------------------------------------------------------

    def _roles(self, rng, people):
        for person in people:
            if 6 <= person.age < 18 and rng.random() < (0.96 if person.age < 15 else 0.8):
                person.student = "HS"
            elif 18 <= person.age < 23 and rng.random() < 0.28:
                person.student = "SV"
            if person.working_age and not person.student:
                person.labour_force = rng.random() < (0.3 if person.age < 18 else 0.85)
        labour = [p for p in people if p.labour_force]

        def job_weight(p):
            if p.age < 18:
                return 0
            base = 0.8 if p.age < 25 else 1.3 if p.age < 35 else 1.2 if p.age < 45 else \
                0.9 if p.age < 55 else 0.5
            return base * (0.35 if p.household.poor or p.household.hard_area else 1.0)
        employed = _pick_weighted(rng, labour, [job_weight(p) for p in labour],
                                  round(COMPULSORY_SHARE * len(labour)))
        for person in employed:
            person.role = "employed"
        rest = [p for p in labour if p.role is None and p.age >= 20]
        for person in _pick_weighted(rng, rest, [1.0] * len(rest),
                                     round(RECENTLY_UNEMPLOYED * len(employed))):
            person.role = "unemployed"
        rest = [p for p in labour if p.role is None and p.age >= 16]
        weights = [(1.5 if 30 <= p.age < 55 else 1.0) * (1.3 if p.household.poor or p.household.near_poor
                                                         else 1.0) for p in rest]
        # some payers have let their cover lapse: choose enough that 6.5% pay now
        for person in _pick_weighted(rng, rest, weights, round(VOLUNTARY_SHARE / 0.87 * len(labour))):
            person.role = "voluntary"
        for person in people:
            if person.retired and person.retires_on >= dt.date(1996, 6, 1):
                if rng.random() < (0.3 if person.age < 80 else 0.2):
                    person.role = "retired"

    def _careers(self, rng, household, person):
        first = max(FIRST_CONTRIBUTION, _add_years(person.dob, 18))
        if person.role == "employed":
            kinds = None
            tenure = rng.expovariate(1 / (5 * 365))
            start = max(first, self.last_day - dt.timedelta(days=int(tenure) + 30))
            job = self._job(rng, person, min(start, self.last_day), None, None, kinds)
            self._earlier_jobs(rng, person, job.start, first)
        elif person.role == "unemployed":
            end = _date_between(rng, self.today - dt.timedelta(days=85), self.today - dt.timedelta(days=35))
            tenure = 430 + rng.expovariate(1 / (3 * 365))
            start = max(first, end - dt.timedelta(days=int(tenure)))
            if start < end:
                job = self._job(rng, person, start, end, _weighted(rng, END_REASONS))
                self._earlier_jobs(rng, person, job.start, first)
        elif person.role == "retired":
            end = person.retires_on - dt.timedelta(days=1)
            needed = 21 if end < dt.date(2025, 7, 1) else 16
            latest = _add_years(end, -needed)
            start = _date_between(rng, max(first, _add_years(person.dob, 20)), max(first, latest))
            if start < end:
                self._job(rng, person, start, end, "retirement", RETIREE_KINDS)
        elif person.labour_force and person.age >= 22 and rng.random() < 0.25:
            # left formal work some years ago (a voluntary payer may have done so too)
            latest_end = _add_months(self.today, -14)
            earliest_end = max(first + dt.timedelta(days=400), dt.date(2016, 1, 1))
            if earliest_end < latest_end:
                end = _date_between(rng, earliest_end, latest_end)
                tenure = 180 + rng.expovariate(1 / (3 * 365))
                start = max(first, end - dt.timedelta(days=int(min(tenure, 15 * 365))))
                if start < end:
                    self._job(rng, person, start, end, _weighted(rng, END_REASONS))
        if person.role == "voluntary":
            self._voluntary(rng, person)

    def _earlier_jobs(self, rng, person, before, first):
        for _ in range(2):
            if rng.random() > 0.45:
                return
            end = before - dt.timedelta(days=rng.randint(15, 400))
            start = end - dt.timedelta(days=int(90 + rng.expovariate(1 / (3 * 365))))
            start = max(start, first)
            if end - start < dt.timedelta(days=60):
                return
            self._job(rng, person, start, end, _weighted(rng, END_REASONS))
            before = start

    def _job(self, rng, person, start, end, reason, kinds=None):
        employer = self._employer(rng, kinds)
        if any(j.employer[0] == employer[0] for j in person.jobs):
            employer = self._employer(rng, kinds)
        job = Job(employer, start, end, reason)
        code, kind, region = employer
        coefficient = min(8.0, max(1.5, rng.lognormvariate(math.log(2.6), 0.3)))
        multiple = min(12.0, max(1.0, rng.lognormvariate(math.log(1.4), 0.35)))
        salary = self._salary(kind, region, start, coefficient, multiple)
        job.salaries.append((start, salary))
        last = min(end or self.last_day, self.last_day)
        chance = 0.35 if kind in STATE_KINDS or person.role == "retired" else 0.2
        for day in CHANGE_DATES:
            if start + dt.timedelta(days=90) < day <= last and rng.random() < chance \
                    and len(job.salaries) <= MAX_CHANGES:
                effective = min(day + dt.timedelta(days=rng.choice((0, 0, 31, 61))), last)
                coefficient *= rng.uniform(1.0, 1.08)
                multiple *= rng.uniform(1.0, 1.06)
                new = max(salary, self._salary(kind, region, effective, coefficient, multiple))
                if new != salary and effective > job.salaries[-1][0]:
                    job.salaries.append((effective, new))
                    salary = new
        person.jobs.append(job)
        person.jobs.sort(key=lambda j: j.start)
        return job

    @staticmethod
    def _salary(kind, region, day, coefficient, multiple):
        floor, _ = wage_floor(REFERENCE, region, day)
        base = REFERENCE.value("base_salary", day)
        if kind in STATE_KINDS or day < dt.date(2020, 1, 1):
            amount = base * coefficient
        else:
            amount = floor * multiple
        return _ceil_to(max(amount, floor))

    def _voluntary(self, rng, person):
        """Voluntary SI from 2022 on, after any formal job, 1/3/6/12 months at a time."""
        household = person.household
        earliest = max(FIRST_VOLUNTARY, _month(_add_years(person.dob, 15) + dt.timedelta(days=31)))
        if person.jobs:
            earliest = max(earliest, _add_months(_month(person.jobs[-1].end), 2))
        if earliest > self.current_month:
            person.role = None
            return
        if rng.random() < 0.25:   # joined this year
            earliest = max(earliest, self.current_month.replace(month=1))
        months_span = _month_index(self.current_month) - _month_index(earliest)
        period = _add_months(earliest, rng.randint(0, max(0, months_span)))
        every = _weighted(rng, [(1, 15), (3, 30), (6, 20), (12, 35)])
        lapses = rng.random() < 0.12
        group = ("poor" if household.poor else "near_poor" if household.near_poor
                 else "ethnic_minority" if household.ethnic else "other")
        income = 1_500_000 if rng.random() < 0.7 else rng.choice(
            (2_000_000, 2_000_000, 2_500_000, 3_000_000, 3_000_000, 4_000_000, 5_000_000, 7_000_000))
        used = 0
        stop = _add_months(self.current_month, -rng.randint(4, 14)) if lapses else self.current_month
        channel = rng.choice(CHANNELS)
        while period <= stop:
            if every == 1:
                paid = period + dt.timedelta(days=rng.randint(0, 9))
            else:
                paid = period - dt.timedelta(days=rng.randint(1, 20))
            paid = min(max(paid, person.registered), self.last_day)
            declared = max(income, REFERENCE.value("rural_poverty_line", period))
            priced = self._voluntary_price(declared, every, group, period, used)
            person.voluntary.append((paid, {
                "citizen_id": person.citizen_id, "scheme": "voluntary_si",
                "period_start": period.strftime("%Y-%m"), "months": every,
                "amount_paid": priced["total_payable"], "channel": channel,
                "declared_income": declared, "support_group": group}))
            used += priced["supported_months"]
            period = _add_months(period, every)
        if not person.voluntary:
            person.role = None

    def _voluntary_price(self, income, months, group, period, used):
        key = (income, months, group, period, min(used, 120))
        if key not in self._prices:
            self._prices[key] = voluntary_si(REFERENCE, income, months, group, period, used).amounts
        return self._prices[key]

    def _deaths(self, rng, people):
        def hazard(age):
            if age < 1:
                return 0.012
            if age < 5:
                return 0.001
            return 0.0002 * math.exp(0.085 * (age - 20)) + 0.0004
        for person in people:
            if rng.random() < min(0.5, hazard(person.age) * DEATH_SCALE):
                first = max(person.registered + dt.timedelta(days=1), self.today - dt.timedelta(days=365))
                if first <= self.last_day:
                    person.died = _date_between(rng, first, self.last_day)

    # -- health cover --------------------------------------------------------------

    def _cover(self, rng, household):
        """Each member's state card, or the household's payment for those left uncovered."""
        year_start = dt.date(self.last_day.year, 1, 1)
        for person in household.members:
            if person.role == "employed":
                person.covered = True
                continue
            card = None
            if person.age < 6:
                card = ("TE", person.dob, 60, "state", person.registered)
            elif household.poor:
                card = ("HN", year_start, 12, "state", None)
            elif household.near_poor:
                card = ("CN", year_start, 12, "state", None)
            elif household.hard_area:
                card = ("DT", year_start, 12, "state", None)
            elif person.role == "retired":
                card = ("HT", year_start, 12, "state", None)
            elif person.student:
                card = (person.student, self._school_year(rng), 12, "household", None)
            elif person.age >= 65 and rng.random() < 0.08:
                card = ("CC", year_start, 12, "state", None)
            if card:
                group, valid_from, months, payer, issued = card
                if issued is None:
                    issued = max(valid_from - dt.timedelta(days=rng.randint(3, 25)), person.registered)
                if person.died and person.died <= issued:
                    continue
                person.card = (group, valid_from, months, payer, min(issued, self.last_day))
                person.covered = True
        household.buys_hi = rng.random() < BUY_SHARE

    def _school_year(self, rng):
        year = self.last_day.year if self.last_day >= dt.date(self.last_day.year, 10, 26) \
            else self.last_day.year - 1
        return dt.date(year, 9, rng.randint(5, 25))

    def _grants(self, rng, people, size):
        """Sponsored cards and books for people in hardship, up to this block's share of the goal."""
        share = (self._people_done + size) / self.people
        books_due = round(self.books_wanted * share) - self._books
        cards_due = round(self.cards_wanted * share) - self._cards
        alive = [p for p in people if not p.died and p.registered < self.grant_day]
        uncovered = [p for p in alive if not p.covered and not p.household.buys_hi]
        weights = [2.0 if p.age >= 60 or p.age < 18 else 1.0 for p in uncovered]
        for person in _pick_weighted(rng, uncovered, weights, max(0, cards_due)):
            person.grant = ("health_card", rng.choice(self.sponsors))
            person.covered = True
            self._cards += 1
        hardship = [p for p in alive if p.labour_force and p.role is None and p.grant is None
                    and 18 <= p.age < 60 and not self._left_recently(p)]
        weights = [3.0 if (p.household.poor or p.household.near_poor or p.household.ethnic
                           or not p.household.buys_hi) else 1.0 for p in hardship]
        for person in _pick_weighted(rng, hardship, weights, max(0, books_due)):
            person.grant = ("si_book", rng.choice(self.sponsors))
            self._books += 1

    def _left_recently(self, person):
        return bool(person.jobs) and person.jobs[-1].end is not None \
            and person.jobs[-1].end >= _add_months(self.grant_day, -2)

    # -- claims ----------------------------------------------------------------------

    def _claims(self, household):
        for person in household.members:
            claim = self._claim_of(person)
            if claim:
                person.claim = claim
                household.claims.append(claim)

    def _claim_of(self, person):
        """A claim the person could make today, with the compulsory months it rests on."""
        if person.died or not person.jobs:
            return None
        last = person.jobs[-1]
        account = f"VSS-{person.citizen_id}"
        if person.role == "retired" and last.reason == "retirement":
            claim_date = min(person.retires_on + dt.timedelta(days=20), self.last_day)
            months = self.compulsory_months(person)
            needed = 240 if claim_date < dt.date(2025, 7, 1) else 180
            if claim_date >= dt.date(2016, 2, 1) and len(months) >= needed:
                return {"citizen_id": person.citizen_id, "kind": "pension",
                        "claim_date": claim_date.isoformat(), "bank_account": account,
                        "expected_months": len(months)}
        elif person.role == "unemployed":
            months = self.compulsory_months(person)
            ended = _month_index(last.end)
            window = [m for m in months if ended - 23 <= m <= ended]
            claim_date = min(last.end + dt.timedelta(days=12), self.last_day)
            if len(window) >= 13 and _month(claim_date) < self.current_month:
                return {"citizen_id": person.citizen_id, "kind": "unemployment",
                        "claim_date": claim_date.isoformat(), "bank_account": account,
                        "expected_months": len(months)}
        elif person.role is None and person.grant is None and last.end and not person.retired \
                and last.end <= _add_months(self.current_month, -13) \
                and last.start < dt.date(2025, 7, 1):
            months = self.compulsory_months(person)
            if 0 < len(months) < 240:
                claim_date = max(self.current_month, self.last_day - dt.timedelta(days=6))
                return {"citizen_id": person.citizen_id, "kind": "lump_sum",
                        "reason": "out_of_system", "claim_date": claim_date.isoformat(),
                        "bank_account": account, "expected_months": len(months)}
        return None

    def compulsory_months(self, person, until=None):
        """Month indices (year * 12 + month - 1) that ``record_contributions`` records for the
        person's jobs: those a job covers for 14 days or more."""
        until = _month_index(until or self.current_month)
        months = set()
        for job in person.jobs:
            first, last = _month_index(job.start), _month_index(job.end) if job.end else until
            first_end = _add_months(_month(job.start), 1) - dt.timedelta(days=1)
            if (min(job.end or first_end, first_end) - job.start).days + 1 < 14:
                first += 1
            if job.end and last >= first and job.end.day < 14 and last != _month_index(job.start):
                last -= 1
            months.update(range(first, min(last, until) + 1))
        return sorted(months)

    # -- events ------------------------------------------------------------------------

    def _publishable(self, rng, household):
        """The household's envelopes in publish order."""
        out = []
        members = household.members
        for person in members:
            out.append(self._registration(rng, household, person))
        for person in members:
            for day, _, event_type, payload, source in self._person_events(person):
                out.append(self._envelope(rng, event_type, payload, max(day, person.registered), source))
        out.extend(self._household_payment(rng, household))
        for person in members:
            if person.died:
                reported = min(person.died + dt.timedelta(days=rng.randint(1, 14)), self.last_day)
                out.append(self._envelope(rng, "person.died", {
                    "citizen_id": person.citizen_id, "date_of_death": person.died.isoformat()},
                    reported, "civil-registry"))
        return out

    def _registration(self, rng, household, person):
        before_reform = person.registered < REORGANISED_ON
        payload = {"citizen_id": person.citizen_id, "full_name": person.name,
                   "date_of_birth": person.dob.isoformat(), "sex": person.sex,
                   "province_code": household.old_unit if before_reform else self.unit,
                   "commune_code": household.commune, "household_id": household.household_id}
        if before_reform and rng.random() < 0.7:
            payload["district_code"] = household.district
        if household.ethnic:
            payload["ethnic_minority"] = True
        return self._envelope(rng, "person.registered", payload, person.registered, "commune-registry")

    def _person_events(self, person):
        events = []
        for job in person.jobs:
            code, kind, region = job.employer
            started = {"citizen_id": person.citizen_id, "employer_code": code,
                       "monthly_salary": job.salaries[0][1], "start_date": job.start.isoformat(),
                       "region": region, "employer_kind": kind}
            if _stable_int(code) % 4 == 0:
                started["group_code"] = dict((k, g) for k, g, _ in EMPLOYER_KINDS)[kind]
            events.append((job.start, 0, "employment.started", started, "employer-portal"))
            for day, salary in job.salaries[1:]:
                events.append((day, 1, "employment.changed", {
                    "citizen_id": person.citizen_id, "employer_code": code, "monthly_salary": salary,
                    "effective_date": day.isoformat()}, "employer-portal"))
            if job.end:
                events.append((job.end, 2, "employment.ended", {
                    "citizen_id": person.citizen_id, "employer_code": code,
                    "end_date": job.end.isoformat(), "reason": job.reason}, "employer-portal"))
        for paid, payload in person.voluntary:
            events.append((paid, 3, "contribution.paid", payload, "collection-agent"))
        if person.card:
            group, valid_from, months, payer, issued = person.card
            payload = {"citizen_id": person.citizen_id, "group_code": group,
                       "valid_from": valid_from.isoformat(), "months": months, "payer": payer}
            source = {"TE": "civil-registry", "HS": "school-health", "SV": "school-health",
                      "HT": "pension-office"}.get(group, "commune-social-affairs")
            events.append((issued, 4, "health.enrolled", payload, source))
        if person.grant:
            benefit, sponsor = person.grant
            amount = self.card_price() if benefit == "health_card" else self.book_price()
            events.append((self.grant_day, 5, "sponsorship.granted", {
                "programme_code": self.programme_code, "sponsor": sponsor,
                "citizen_id": person.citizen_id, "benefit": benefit, "months": 12,
                "amount": amount}, "programme-office"))
        events.sort(key=lambda e: (e[0], e[1]))
        if person.died:
            events = [e for e in events if e[0] < person.died]
        return events

    def _household_payment(self, rng, household):
        """Household HI for every living member with no other cover, one burst, same period."""
        payers = [p for p in household.members if not p.covered and not p.died]
        if not payers or not household.buys_hi:
            return []
        months = _weighted(rng, [(12, 80), (6, 15), (3, 5)])
        latest = self.today - dt.timedelta(days=35)
        earliest = self.today - dt.timedelta(days={12: 320, 6: 150, 3: 60}[months])
        paid = _date_between(rng, earliest, latest)
        ended = [j.end for p in payers for j in p.jobs if j.end]
        paid = max([paid] + [e + dt.timedelta(days=1) for e in ended] + [p.registered for p in payers])
        paid = min(paid, self.last_day)
        period = _month(paid)
        prices = household_hi(REFERENCE, len(payers), months, period).amounts["members"]
        channel = rng.choice(CHANNELS)
        out = []
        for position, person in enumerate(payers, start=1):
            person.paid_household = True
            out.append(self._envelope(rng, "contribution.paid", {
                "citizen_id": person.citizen_id, "scheme": "household_hi",
                "period_start": period.strftime("%Y-%m"), "months": months,
                "amount_paid": prices[position - 1]["total"], "channel": channel,
                "household_id": household.household_id}, paid, "collection-agent"))
        return out

    def _envelope(self, rng, event_type, payload, day, source):
        return event_type, {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "occurred_at": f"{day.isoformat()}T{rng.randint(7, 17):02d}:{rng.randint(0, 59):02d}:00+07:00",
            "source": source, "payload": payload}

    def _count(self, household):
        stats = self.stats
        stats["households"] += 1
        for event_type, _ in household.events:
            stats[f"events.{event_type}"] += 1
        stats["events"] += len(household.events)
        year_start = dt.date(self.last_day.year, 1, 1)
        for person in household.members:
            stats["people"] += 1
            if person.died:
                stats["deaths"] += 1
                continue
            stats["population"] += 1
            stats[f"sex.{person.sex}"] += 1
            if person.working_age and person.labour_force:
                stats["working_age_labour_force"] += 1
            if person.role == "employed":
                stats["employed"] += 1
                job = person.jobs[-1]
                if job.start >= year_start and not any(
                        j.end and j.end >= job.start - dt.timedelta(days=1) for j in person.jobs[:-1]):
                    stats["compulsory_new_this_year"] += 1
            if person.voluntary:
                last_period = _add_months(dt.date.fromisoformat(person.voluntary[-1][1]["period_start"]
                                                                + "-01"),
                                          person.voluntary[-1][1]["months"] - 1)
                if last_period >= self.current_month:
                    stats["voluntary"] += 1
                if dt.date.fromisoformat(person.voluntary[0][1]["period_start"] + "-01") >= year_start:
                    stats["voluntary_new_this_year"] += 1
            if person.grant:
                stats[f"grants.{person.grant[0]}"] += 1
                if person.grant[0] == "si_book":
                    stats["voluntary_new_this_year"] += 1
            if person.covered or person.paid_household:
                stats["health_covered"] += 1
            if person.card:
                stats[f"cards.{person.card[0]}"] += 1
            if person.claim:
                stats[f"claim_candidates.{person.claim['kind']}"] += 1


def _cumulative(values):
    total = 0
    for value in values:
        total += value
        yield total


# Calibrated so that the expected deaths over the pyramid are DEATH_RATE a year,
# and so that health cover reaches HEALTH_TARGET of the population.
DEATH_SCALE = 1.0
BUY_SHARE = 0.87


def _calibrate_deaths():
    total = weight = 0.0
    for first, last, share in AGE_PYRAMID:
        for age in range(first, last + 1):
            a = age + 0.5
            hazard = 0.012 if a < 1 else 0.001 if a < 5 else 0.0002 * math.exp(0.085 * (a - 20)) + 0.0004
            total += hazard * share / (last - first + 1)
            weight += share / (last - first + 1)
    return DEATH_RATE / (total / weight)


DEATH_SCALE = _calibrate_deaths()


def generate(province_code=DEFAULT_PROVINCE, people=DEFAULT_PEOPLE, seed=DEFAULT_SEED, today=None):
    """``(event_type, envelope)`` pairs for a province, in a valid publish order."""
    return SyntheticProvince(province_code, people, seed, today).events()
