"""The register as one intake batch sees it.

A batch of intake events used to cost three to seventeen SQL round trips an
event: each event locked its person, and the rules looked up the person's
active schemes, valid card, open employments and book one statement at a
time, several times an event. ``RegisterState`` reads all of that for every
person of the batch at once (one statement per kind, people locked in
citizen-id order), and every write the batch makes goes through it so what
it holds stays what the database holds. Anything not read up front (a person
outside the batch) is read the first time it is asked for, so a state made
for a single event behaves the same.

The rows it holds are the batch's to change: the people are locked
``FOR UPDATE`` until the transaction ends, so nothing else (the lapse sweep
skips locked people, RPC corrections lock the person) changes them meanwhile.
"""
import psycopg2.extras

from services.enrolment import store

CARD_COLUMNS = "id, card_number, group_code, benefit_level, valid_from, valid_to, employment_id"
JOB_COLUMNS = "id, citizen_id, employer_code, region, group_code, start_date"
UNREAD = object()


class RegisterState:
    def __init__(self, cur):
        self.cur = cur
        self.people = {}        # citizen_id -> locked row (None: not registered)
        self._active = {}       # citizen_id -> set of schemes with an active coverage
        self._card = {}         # citizen_id -> the valid card or None
        self._last_end = {}     # citizen_id -> max(valid_to) over the person's cards
        self._jobs = {}         # citizen_id -> open employments
        self._book = {}         # citizen_id -> has a book
        self._held = {}         # citizen_id -> has held events

    # ---- reading a batch's people at once

    def prefetch(self, citizen_ids, registering=()):
        """Lock ``citizen_ids`` and read what the rules ask about them; citizens
        of ``registering`` are also checked for held events."""
        ids = sorted(set(citizen_ids) - set(self.people))
        if ids:
            cur = self.cur
            cur.execute(f"SELECT {store.PERSON_COLUMNS}, date_of_death FROM people"
                        " WHERE citizen_id = ANY(%s::char(12)[]) ORDER BY citizen_id FOR UPDATE", (ids,))
            found = {row["citizen_id"]: row for row in cur.fetchall()}
            for cid in ids:
                self.people[cid] = found.get(cid)
            known = sorted(found)
            for cid in ids:
                self._active[cid], self._card[cid], self._last_end[cid] = set(), None, None
                self._jobs[cid], self._book[cid] = [], False
            if known:
                self._read_known(known)
        registering = sorted(set(registering) - set(self._held))
        if registering:
            self.cur.execute("SELECT DISTINCT citizen_id FROM held_events"
                             " WHERE citizen_id = ANY(%s::char(12)[])", (registering,))
            held = {row["citizen_id"] for row in self.cur.fetchall()}
            self._held.update((cid, cid in held) for cid in registering)

    def _read_known(self, ids):
        cur = self.cur
        cur.execute("SELECT DISTINCT citizen_id, scheme FROM coverages"
                    " WHERE citizen_id = ANY(%s::char(12)[]) AND status = 'active'", (ids,))
        for row in cur.fetchall():
            self._active[row["citizen_id"]].add(row["scheme"])
        cur.execute(f"SELECT citizen_id, status, {CARD_COLUMNS} FROM cards"
                    " WHERE citizen_id = ANY(%s::char(12)[])", (ids,))
        for row in cur.fetchall():
            cid = row.pop("citizen_id")
            if row.pop("status") == "valid":
                self._card[cid] = row
            if row["valid_to"] is not None:
                self._last_end[cid] = max(self._last_end[cid] or row["valid_to"], row["valid_to"])
        cur.execute(f"SELECT {JOB_COLUMNS} FROM employments"
                    " WHERE citizen_id = ANY(%s::char(12)[]) AND end_date IS NULL ORDER BY id", (ids,))
        for row in cur.fetchall():
            self._jobs[row.pop("citizen_id")].append(row)
        cur.execute("SELECT citizen_id FROM books WHERE citizen_id = ANY(%s::char(12)[])", (ids,))
        for row in cur.fetchall():
            self._book[row["citizen_id"]] = True

    def _ensure(self, citizen_id):
        if citizen_id not in self.people:
            self.prefetch([citizen_id])

    # ---- people

    def person(self, citizen_id):
        """The person's locked row, or None if not registered."""
        self._ensure(citizen_id)
        return self.people[citizen_id]

    def register(self, person, registered_on, event_id):
        """Insert the person; returns the SI code, or None if the citizen id is taken."""
        row = store.insert_person(self.cur, person, registered_on, event_id)
        if row is None:
            return None
        cid = person["citizen_id"]
        self.people[cid] = row
        self._active[cid], self._card[cid], self._last_end[cid] = set(), None, None
        self._jobs[cid], self._book[cid] = [], False
        return row["si_code"]

    def has_held_events(self, citizen_id):
        if citizen_id not in self._held:
            self.prefetch([], registering=[citizen_id])
        return self._held[citizen_id]

    def hold_event(self, event_id, citizen_id, event_type, source, body):
        """Keep an event until its person is registered."""
        store.hold_event(self.cur, event_id, citizen_id, event_type, source, body)
        self._held[citizen_id] = True

    def take_held_events(self, citizen_id):
        if not self.has_held_events(citizen_id):
            return []
        self._held[citizen_id] = False
        return store.take_held_events(self.cur, citizen_id)

    def mark_deceased(self, person, date_of_death):
        store.mark_deceased(self.cur, person["citizen_id"], date_of_death)
        person["status"], person["date_of_death"] = "deceased", date_of_death

    # ---- coverage

    def active_schemes(self, citizen_id):
        self._ensure(citizen_id)
        if self._active.get(citizen_id) is None:
            self._active[citizen_id] = store.active_schemes(self.cur, citizen_id)
        return set(self._active[citizen_id])

    def insert_coverages(self, rows):
        """Open active coverages: ``(citizen_id, scheme, group_code, valid_from,
        employment_id, source_event_id, announced)`` rows, in one statement."""
        psycopg2.extras.execute_values(
            self.cur, "INSERT INTO coverages (citizen_id, scheme, group_code, valid_from,"
            " employment_id, source_event_id, announced) VALUES %s", rows)
        for row in rows:
            self._ensure(row[0])
            if self._active.get(row[0]) is not None:
                self._active[row[0]].add(row[1])

    def end_coverages(self, citizen_id, valid_to, employment_id=None):
        ended = store.end_coverages(self.cur, citizen_id, valid_to, employment_id)
        if ended:
            self._active[citizen_id] = None     # read again when asked
        return ended

    def extend_or_open_coverage(self, citizen_id, scheme, group_code, valid_from, valid_to,
                                event_id, announce):
        resumed = store.extend_or_open_coverage(self.cur, citizen_id, scheme, group_code,
                                                valid_from, valid_to, event_id, announce)
        if self._active.get(citizen_id) is not None:
            self._active[citizen_id].add(scheme)
        return resumed

    # ---- cards and books

    def valid_card(self, citizen_id):
        self._ensure(citizen_id)
        return self._card[citizen_id]

    def last_card_end(self, citizen_id):
        self._ensure(citizen_id)
        if self._last_end[citizen_id] is UNREAD:
            self._last_end[citizen_id] = store.last_card_end(self.cur, citizen_id)
        return self._last_end[citizen_id]

    def insert_card(self, citizen_id, card, issued_on, reason, event_id):
        """The new card is the person's valid one (supersede the old one first)."""
        card_id = store.insert_card(self.cur, card, citizen_id, issued_on, reason, event_id)
        self._ensure(citizen_id)
        self._card[citizen_id] = {"id": card_id, **{k: card.get(k) for k in (
            "card_number", "group_code", "benefit_level", "valid_from", "valid_to",
            "employment_id")}}
        last = self._last_end[citizen_id]
        if card["valid_to"] is not None and last is not UNREAD:
            self._last_end[citizen_id] = max(last or card["valid_to"], card["valid_to"])

    def supersede_card(self, citizen_id, card, status="superseded", valid_to=None):
        store.supersede_card(self.cur, card["id"], status, valid_to)
        self._card[citizen_id] = None
        if valid_to is not None:
            self._last_end[citizen_id] = UNREAD

    def set_card_end(self, citizen_id, card, valid_to):
        store.set_card_end(self.cur, card["id"], valid_to)
        card["valid_to"] = valid_to
        self._last_end[citizen_id] = UNREAD

    def issue_book(self, citizen_id, book_number, issued_on):
        """True if the person had no book and now has one."""
        self._ensure(citizen_id)
        if self._book[citizen_id]:
            return False
        self._book[citizen_id] = True
        return store.issue_book(self.cur, citizen_id, book_number, issued_on)

    # ---- employments

    def open_employment(self, citizen_id, employer_code):
        self._ensure(citizen_id)
        return next((job for job in self._jobs[citizen_id]
                     if job["employer_code"] == employer_code), None)

    def other_open_employment(self, citizen_id, excluding_id):
        """The most recent open employment other than ``excluding_id``, or None."""
        self._ensure(citizen_id)
        others = [job for job in self._jobs[citizen_id] if job["id"] != excluding_id]
        return max(others, key=lambda job: (job["start_date"], job["id"]), default=None)

    def start_employment(self, citizen_id, employer_code, region, group_code, start_date,
                         monthly_salary, event_id):
        """The employment and its first salary, in one statement; returns its id."""
        employment_id = store.insert_employment_with_salary(
            self.cur, citizen_id, employer_code, region, group_code, start_date, monthly_salary,
            event_id)
        self._ensure(citizen_id)
        self._jobs[citizen_id].append({"id": employment_id, "employer_code": employer_code,
                                       "region": region, "group_code": group_code,
                                       "start_date": start_date})
        return employment_id

    def end_employment(self, citizen_id, employment, end_date, reason):
        store.end_employment(self.cur, employment["id"], end_date, reason)
        self._jobs[citizen_id] = [job for job in self._jobs[citizen_id]
                                  if job["id"] != employment["id"]]

    def end_open_employments(self, citizen_id, end_date, reason):
        ended = store.end_open_employments(self.cur, citizen_id, end_date, reason)
        self._jobs[citizen_id] = []
        return ended
