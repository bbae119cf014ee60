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
import datetime as dt
import json

from services.enrolment import store
from shared.db import fetch_dicts, fetch_tuples

CARD_COLUMNS = "id, card_number, group_code, benefit_level, valid_from, valid_to, employment_id"
JOB_COLUMNS = "id, citizen_id, employer_code, region, group_code, start_date"
COVERAGE_COLUMNS = "id, scheme, group_code, valid_from, valid_to, status, employment_id, announced"
ONE_DAY = dt.timedelta(days=1)
UNREAD = object()


class RegisterState:
    def __init__(self, cur):
        self.cur = cur
        self.people = {}        # citizen_id -> locked row (None: not registered)
        self._covers = {}       # citizen_id -> the person's coverage rows (dicts), by id
        self._card = {}         # citizen_id -> the valid card or None
        self._last_end = {}     # citizen_id -> max(valid_to) over the person's cards
        self._jobs = {}         # citizen_id -> open employments
        self._book = {}         # citizen_id -> has a book
        self._held = {}         # citizen_id -> has held events
        self._ids = {}          # sequence -> ids taken from it and not used yet
        self._si_codes = {}     # citizen_id -> SI code drawn for its registration
        # voluntary SI and household HI payments (prefetch_payments): months paid
        # from ``_paid_from`` on, per (citizen_id, scheme); months with state support
        # per citizen; household HI payers per (household_id, month)
        self._paid_from = None
        self._paid, self._supported, self._household = {}, {}, {}
        self._block = {}        # sequence -> how many to take next time

    # ---- reading a batch's people at once

    def prefetch(self, citizen_ids, registering=()):
        """Lock ``citizen_ids`` and read what the rules ask about them; citizens
        of ``registering`` are also checked for held events."""
        ids = sorted(set(citizen_ids) - set(self.people))
        if ids:
            cur = self.cur
            found = {row["citizen_id"]: row for row in fetch_dicts(
                cur, f"SELECT {store.PERSON_COLUMNS}, date_of_death FROM people"
                     " WHERE citizen_id = ANY(%s::char(12)[]) ORDER BY citizen_id FOR UPDATE", (ids,))}
            for cid in ids:
                self.people[cid] = found.get(cid)
            known = sorted(found)
            for cid in ids:
                self._covers[cid], self._card[cid], self._last_end[cid] = [], None, None
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
        for row in fetch_dicts(cur, f"SELECT citizen_id, {COVERAGE_COLUMNS} FROM coverages"
                                    " WHERE citizen_id = ANY(%s::char(12)[]) ORDER BY id", (ids,)):
            self._covers[row.pop("citizen_id")].append(row)
        for row in fetch_dicts(cur, f"SELECT citizen_id, status, {CARD_COLUMNS} FROM cards"
                                    " WHERE citizen_id = ANY(%s::char(12)[])", (ids,)):
            cid = row.pop("citizen_id")
            if row.pop("status") == "valid":
                self._card[cid] = row
            if row["valid_to"] is not None:
                self._last_end[cid] = max(self._last_end[cid] or row["valid_to"], row["valid_to"])
        for row in fetch_dicts(cur, f"SELECT {JOB_COLUMNS} FROM employments WHERE citizen_id"
                                    " = ANY(%s::char(12)[]) AND end_date IS NULL ORDER BY id", (ids,)):
            self._jobs[row.pop("citizen_id")].append(row)
        cur.execute("SELECT citizen_id FROM books WHERE citizen_id = ANY(%s::char(12)[])", (ids,))
        for row in cur.fetchall():
            self._book[row["citizen_id"]] = True

    def _ensure(self, citizen_id):
        if citizen_id not in self.people:
            self.prefetch([citizen_id])

    def next_id(self, sequence):
        """An id from ``sequence``, taken in blocks (64, 128, then 256 at a time)
        so that rows can be inserted with their id, deferred. Unused ids are a
        gap in the sequence, as a rolled-back insert leaves: a transaction of
        one event uses up 64 ids of each sequence it touches (bigint: harmless).
        Ids rise in the order rows are made, because blocks are drawn after the
        batch's people are locked and only the intake inserts coverages;
        ``announced_groups`` relies on it (the latest announced period wins)."""
        ids = self._ids.get(sequence)
        if not ids:
            size = self._block.get(sequence, 64)
            self._block[sequence] = min(size * 2, 256)
            ids = self._ids[sequence] = store.next_ids(self.cur, sequence, size)
            ids.reverse()
        return ids.pop()

    # ---- voluntary SI and household HI payments

    def prefetch_payments(self, payments, first_month):
        """Read, in one statement, what the rules ask about these payers' earlier
        payments: ``payments`` are ``(citizen_id, household_id)`` pairs; months
        from ``first_month`` on are read (earlier ones are asked of the database)."""
        citizens = sorted({cid for cid, _ in payments} - set(self._supported))
        households = sorted({hh for _, hh in payments if hh} - {hh for hh, _ in self._household})
        if not citizens and not households:
            return
        if self._paid_from is not None and first_month < self._paid_from:
            return      # read once per batch, from one month
        self._paid_from = first_month
        self.cur.execute(
            "SELECT 'paid' AS kind, citizen_id, scheme, month, NULL::text AS household_id,"
            "  0::bigint AS n FROM contributions WHERE citizen_id = ANY(%(c)s::char(12)[])"
            "  AND scheme IN ('voluntary_si', 'household_hi') AND month >= %(m)s"
            " UNION ALL SELECT 'supported', citizen_id, NULL, NULL, NULL, count(*)"
            "  FROM contributions WHERE citizen_id = ANY(%(c)s::char(12)[])"
            "  AND scheme = 'voluntary_si' AND state_support > 0 GROUP BY citizen_id"
            " UNION ALL SELECT 'household', citizen_id, NULL, month, household_id, 0"
            "  FROM contributions WHERE household_id = ANY(%(h)s) AND scheme = 'household_hi'"
            "  AND month >= %(m)s",
            {"c": citizens, "h": households, "m": first_month})
        for cid in citizens:
            self._supported[cid] = 0
            self._paid[(cid, "voluntary_si")], self._paid[(cid, "household_hi")] = set(), set()
        for hh in households:
            self._household[(hh, None)] = set()     # marks the household as read
        for row in self.cur.fetchall():
            if row["kind"] == "paid":
                self._paid[(row["citizen_id"], row["scheme"])].add(row["month"])
            elif row["kind"] == "supported":
                self._supported[row["citizen_id"]] = row["n"]
            else:
                self._household.setdefault((row["household_id"], row["month"]), set()).add(
                    row["citizen_id"])

    def months_paid(self, citizen_id, scheme, months):
        known = self._paid.get((citizen_id, scheme))
        if known is None or min(months) < self._paid_from:
            return store.months_paid(self.cur, citizen_id, scheme, months)
        return [month for month in months if month in known]

    def supported_months(self, citizen_id):
        if citizen_id not in self._supported:
            return store.supported_months(self.cur, citizen_id)
        return self._supported[citizen_id]

    def household_members_paying(self, household_id, month, excluding):
        if (household_id, None) not in self._household or month < self._paid_from:
            return store.household_members_paying(self.cur, household_id, month, excluding)
        return len(self._household.get((household_id, month), set()) - {excluding})

    def record_contributions(self, rows):
        """Voluntary SI or household HI months paid (callers checked ``months_paid``)."""
        store.record_contributions(self.cur, rows)
        for row in rows:
            cid, scheme, month = row["citizen_id"], row["scheme"], row["month"]
            if (cid, scheme) in self._paid:
                self._paid[(cid, scheme)].add(month)
            if scheme == "voluntary_si" and row.get("state_support", 0) > 0 \
                    and cid in self._supported:
                self._supported[cid] += 1
            household = row.get("household_id")
            if scheme == "household_hi" and household and (household, None) in self._household:
                self._household.setdefault((household, month), set()).add(cid)

    # ---- people

    def person(self, citizen_id):
        """The person's locked row, or None if not registered."""
        self._ensure(citizen_id)
        return self.people[citizen_id]

    def reserve_si_codes(self, people):
        """Draw, in one statement and in order, the SI codes of the registrations
        ``people`` (payloads) that will insert: citizen ids not on the register,
        first of the batch. A code drawn and not used is a gap in the serial."""
        wanted = []
        for person in people:
            cid = person["citizen_id"]
            self._ensure(cid)
            if self.people[cid] is None and cid not in self._si_codes:
                self._si_codes[cid] = None
                wanted.append(person)
        codes = store.take_si_serials(self.cur, [p["province_code"] for p in wanted])
        for person, code in zip(wanted, codes):
            self._si_codes[person["citizen_id"]] = code

    def register(self, person, registered_on, event_id):
        """Insert the person; returns the SI code, or None if the citizen id is taken."""
        cid = person["citizen_id"]
        if self.people.get(cid) is not None:
            return None
        code = self._si_codes.pop(cid, None)
        if code is not None and code[:2] != person["province_code"]:
            code = None     # not the registration it was drawn for
        row = store.insert_person(self.cur, person, registered_on, event_id, si_code=code)
        if row is None:
            return None
        self.people[cid] = row
        self._covers[cid], self._card[cid], self._last_end[cid] = [], None, None
        self._jobs[cid], self._book[cid] = [], False
        return row["si_code"]

    def held_payloads(self, citizen_ids):
        """The payloads of the events held for ``citizen_ids`` (known after
        ``prefetch`` marked who has any), as they arrived."""
        held = sorted(cid for cid in set(citizen_ids) if self._held.get(cid))
        payloads = []
        if held:
            for (body,) in fetch_tuples(self.cur, "SELECT body FROM held_events"
                                                  " WHERE citizen_id = ANY(%s::char(12)[])", (held,)):
                try:
                    payloads.append(json.loads(body)["payload"])
                except (ValueError, KeyError, TypeError):
                    continue        # a body cut at the stored size: replayed as rejected
        return payloads

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
        return {row["scheme"] for row in self._covers[citizen_id] if row["status"] == "active"}

    def announced_groups(self, citizen_id, schemes):
        """``{scheme: group}``: the HI group each stay in ``schemes`` was announced
        with (the latest announced period of the scheme)."""
        self._ensure(citizen_id)
        groups = {}
        for row in self._covers[citizen_id]:      # by id: the last one wins
            if row["announced"] and row["scheme"] in schemes:
                groups[row["scheme"]] = row["group_code"].strip() if row["group_code"] else None
        return groups

    def insert_coverages(self, rows):
        """Open active coverages: ``(citizen_id, scheme, group_code, valid_from,
        employment_id, source_event_id, announced)`` rows, in one deferred statement."""
        with_ids = [(self.next_id("coverages_id_seq"),) + tuple(row) for row in rows]
        store.defer_values(
            self.cur, "INSERT INTO coverages (id, citizen_id, scheme, group_code, valid_from,"
            " employment_id, source_event_id, announced) VALUES %s", with_ids)
        for row in with_ids:
            self._ensure(row[1])
            self._covers[row[1]].append({
                "id": row[0], "scheme": row[2], "group_code": row[3], "valid_from": row[4],
                "valid_to": None, "status": "active", "employment_id": row[5],
                "announced": row[7]})

    def end_coverages(self, citizen_id, valid_to, employment_id=None):
        """End the active coverages (of one employment, or all); returns the schemes ended."""
        self._ensure(citizen_id)
        ended = [row for row in self._covers[citizen_id] if row["status"] == "active"
                 and (employment_id is None or row["employment_id"] == employment_id)]
        if ended:
            store.end_coverages_by_id(self.cur, [row["id"] for row in ended], valid_to)
        for row in ended:
            row["status"], row["valid_to"] = "ended", valid_to
        return {row["scheme"] for row in ended}

    def extend_or_open_coverage(self, citizen_id, scheme, group_code, valid_from, valid_to,
                                event_id, announce):
        """Extend the person's paid coverage of ``scheme`` to ``valid_to``, or open a period.

        A paid period of the same group that starts on or before ``valid_from``
        and reaches at least the day before it is extended (and is active again
        if it had lapsed meanwhile: the months are continuous); otherwise a new
        period is opened, and an active paid period that ended before it is
        closed on its own end (one paid ahead of it stays). ``announce``: the
        period is the one ``coverage_started`` announces (the scheme was not
        active). Returns whether it was a lapsed period taken up again.
        (tests/integration/test_intake_paid_periods.py holds the cases.)"""
        self._ensure(citizen_id)
        rows = [row for row in self._covers[citizen_id]
                if row["scheme"] == scheme and row["employment_id"] is None]
        group = group_code.strip() if group_code else None
        candidates = [row for row in rows if row["valid_from"] <= valid_from
                      and row["valid_to"] is not None and row["valid_to"] >= valid_from - ONE_DAY
                      and (row["group_code"].strip() if row["group_code"] else None) == group]
        if candidates:
            target = max(candidates, key=lambda row: (row["valid_to"], row["id"]))
            resumed = target["status"] == "ended"
            target["valid_to"] = max(target["valid_to"], valid_to)
            target["status"], target["announced"] = "active", target["announced"] or announce
            store.extend_coverage(self.cur, target["id"], target["valid_to"], target["announced"])
            return resumed
        # a period that ended before this one starts is over; a later one (paid ahead) stays
        closed = [row for row in rows if row["status"] == "active"
                  and row["valid_to"] is not None and row["valid_to"] < valid_from]
        if closed:
            store.close_coverages(self.cur, [row["id"] for row in closed])
        for row in closed:
            row["status"] = "ended"
        coverage_id = self.next_id("coverages_id_seq")
        store.open_paid_coverage(self.cur, coverage_id, citizen_id, scheme, group_code,
                                 valid_from, valid_to, event_id, announce)
        self._covers[citizen_id].append({
            "id": coverage_id, "scheme": scheme, "group_code": group_code,
            "valid_from": valid_from, "valid_to": valid_to, "status": "active",
            "employment_id": None, "announced": announce})
        return False

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
        card_id = self.next_id("cards_id_seq")
        store.insert_card(self.cur, card_id, card, citizen_id, issued_on, reason, event_id)
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
        store.issue_book(self.cur, citizen_id, book_number, issued_on)
        return True

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
        employment_id = self.next_id("employments_id_seq")
        store.insert_employment_with_salary(
            self.cur, employment_id, citizen_id, employer_code, region, group_code, start_date, monthly_salary,
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
