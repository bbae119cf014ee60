"""The figures reporting serves (RPC and HTTP alike), read from the aggregates only.

Figures are kept in the province units they were recorded in and shown in
today's units (old provinces merged into their new ones), so a comparison
across 1 Jul 2025 compares like with like. Every row says as of when.
"""
import datetime as dt
from collections import defaultdict

from services.reporting import store
from services.reporting.domain import figures
from services.reporting.domain.figures import NATIONAL, today_unit
from shared.envelope import today_in
from shared.provinces import OLD_TO_NEW

SI_PARTS = ("compulsory_si", "voluntary_si")
KINDS = ("pension", "lump_sum", "unemployment")
MONTHLY_KINDS = ("pension", "unemployment")


def _in_province(code, province_code):
    return province_code is None or province_code == code


def codes_of(units):
    """The province codes stored in the read models (old and new) whose province of
    today is one of ``units``: exactly those ``today_unit`` maps into them."""
    return {code for code, new in OLD_TO_NEW.items() if new in units} | \
        {unit for unit in units if unit not in OLD_TO_NEW}


def _codes_for(units):
    """The codes to read for figures of ``units`` (today's provinces or VN): None, every
    code, when the nation is among them."""
    return None if NATIONAL in units else codes_of(units)


def _current(rows):
    """``{(province of today, scheme): count}`` from stored ``(code, scheme, n)`` rows
    (no derived rows)."""
    counts, unit = defaultdict(int), OLD_TO_NEW.get  # today_unit, inlined: ~1,000 rows a call
    for code, scheme, n in rows:
        counts[(unit(code, code), scheme)] += n
    return counts


def _figures(current, changes_after=()):
    """``current`` less the net ``changes_after`` a day, with the derived rows."""
    counts, unit = defaultdict(int, current), OLD_TO_NEW.get
    for code, scheme, net in changes_after:
        counts[(unit(code, code), scheme)] -= net
    # a row that came back to 0 is no figure: the same history replayed in one batch leaves none
    return _derived(defaultdict(int, {key: n for key, n in counts.items() if n}))


def _derived(counts):
    """``counts`` of today's provinces with the derived rows added: ``social_insurance``
    (the sum of ``SI_PARTS``, 0 included) for every province, and the national rows
    summed over the provinces (in one pass each, not a sum per province)."""
    si = dict.fromkeys([province for province, _ in counts], 0)
    for (province, scheme), n in counts.items():
        if scheme in SI_PARTS:
            si[province] += n
    for province, n in si.items():
        counts[(province, "social_insurance")] = n
    national = defaultdict(int)
    for (_, scheme), n in counts.items():
        national[scheme] += n
    for scheme, n in national.items():
        counts[(NATIONAL, scheme)] += n
    return counts


def participants(cur, as_of=None, codes=None):
    """``{(province of today, scheme): count}`` now, or as of the end of day ``as_of``,
    with the derived ``social_insurance`` and the national rows.

    ``codes``: only the stored province codes these (see ``codes_of``), whose
    provinces' figures are then exact (the national ones are not); None for all.
    """
    if as_of is None:
        return _figures(_current(store.participant_counts(cur, codes)))
    # today's counts and the changes since as_of in one statement: one snapshot
    _, after, now = store.coverage_sums(cur, after=[as_of], codes=codes, current=True)
    return _figures(_current(now), after.get(as_of, []))


def all_denominators(cur, reference):
    """Reference figures, overridden by what planners set for the same province and year."""
    rows = {(r["province_code"], r["year"]): dict(r) for r in reference["denominators"]}
    for row in store.denominators(cur):
        # figure by figure: setting a population keeps the reference's labour force
        merged = rows.setdefault((row["province_code"], row["year"]), {})
        merged.update({k: v for k, v in row.items() if v is not None})
    return list(rows.values())


def coverage(cur, reference, as_of=None, province_code=None):
    store.snapshot(cur)  # one snapshot for its statements, if the transaction has not begun
    day = as_of or today_in()
    clock = store.clock(cur).get("coverage")
    stamp = as_of.isoformat() if as_of else (clock.isoformat() if clock else None)
    denominator_of = figures.Denominators(all_denominators(cur, reference)).of
    codes = None if province_code is None else _codes_for({province_code})
    national_targets = reference["national_targets"]
    target_of = {scheme: national_targets.get(figures.TARGET_OF.get(scheme, ""), {})
                 for scheme in figures.SCHEMES}
    name_of = _memo(figures.province_name)
    rows = []
    for (province, scheme), count in sorted(participants(cur, as_of, codes).items()):
        if not _in_province(province, province_code):
            continue
        denominator = denominator_of(province, scheme, day)
        target = target_of.get(scheme)
        if target is None:
            target = national_targets.get(figures.TARGET_OF.get(scheme, ""), {})
        rows.append({
            "province_code": province, "province_name": name_of(province),
            "scheme": scheme, "participants": count,
            "population": denominator["value"] if denominator["kind"] == "population" else None,
            "workforce": denominator["value"] if denominator["kind"] != "population" else None,
            "denominator_kind": denominator["kind"], "denominator": denominator["value"],
            "denominator_year": denominator["year"], "denominator_source": denominator["source"],
            "coverage_rate": figures.coverage_rate(count, denominator["value"]),
            "national_target_percent": target.get("percent"), "as_of": stamp})
    return rows


def breakdown(cur, province_code, scheme=None):
    """Participants of one province of today (all its old units) per commune, scheme and HI group."""
    codes = [old for old, new in OLD_TO_NEW.items() if new == province_code] + [province_code]
    totals = defaultdict(int)
    for row in store.group_counts(cur, set(codes), scheme):
        totals[(row["commune_code"], row["scheme"], row["group_code"])] += row["participants"]
    clock = store.clock(cur).get("coverage")
    return [{"province_code": province_code, "commune_code": commune or None, "scheme": s,
             "group_code": group or None, "participants": n,
             "as_of": clock.isoformat() if clock else None}
            for (commune, s, group), n in sorted(totals.items()) if n]


def _start_figures(rows):
    """``{(province of today, scheme): new starts}`` from stored ``(code, scheme, n)``
    rows, with the derived ``social_insurance`` and the national rows."""
    counts, unit = defaultdict(int), OLD_TO_NEW.get
    for code, scheme, starts in rows:
        counts[(unit(code, code), scheme)] += starts
    return _derived(counts)


def _starts(cur, first, last, codes=None):
    return _start_figures(store.starts_between(cur, first, last, codes))


def target_progress(cur, reference, year, province_code=None, as_of=None):
    store.snapshot(cur)  # one snapshot for its statements, if the transaction has not begun
    as_of = as_of or today_in()
    targets = store.targets(cur, year, province_code)
    # only the provinces with targets are read (every code when one is national)
    codes = _codes_for({t["province_code"] for t in targets})
    # the date ranges and days the targets need, all read in one statement
    ranges, days = [], []
    for target in targets:
        until = min(target["ends_on"], as_of)
        if target["measure"] == "new_participants":
            if until >= target["starts_on"]:
                ranges.append((target["starts_on"], until))
        else:
            days += [until, target["starts_on"] - dt.timedelta(days=1)]
    # (with today's counts when a rate target needs them: one snapshot)
    starts_in, changes_after, now = store.coverage_sums(cur, ranges, days, codes,
                                                        current=bool(days)) \
        if ranges or days else ({}, {}, None)
    current = _memo(lambda: _current(now))
    denominators = _memo(lambda: figures.Denominators(all_denominators(cur, reference)))
    starts = _memo(lambda first, last: _start_figures(starts_in.get((first, last), [])))
    counts_on = _memo(lambda day: _figures(current(), changes_after.get(day, [])))

    def rate(day, key):
        """The coverage rate ``coverage(as_of=day)`` shows for ``key``; None without a row."""
        counts = counts_on(day)
        if key not in counts:
            return None
        denominator = denominators().of(key[0], key[1], day)
        return figures.coverage_rate(counts[key], denominator["value"])

    iso = _memo(dt.date.isoformat)  # the targets share a few dates
    shown_on = iso(as_of)
    rows = []
    for target in targets:
        until = min(target["ends_on"], as_of)
        key = (target["province_code"], target["scheme"])
        if target["measure"] == "new_participants":
            achieved = starts(target["starts_on"], until).get(key, 0) \
                if until >= target["starts_on"] else 0
        else:
            achieved = rate(until, key)
            baseline = rate(target["starts_on"] - dt.timedelta(days=1), key)
        value = target["target"]
        shown = int(value) if value == int(value) else float(value)  # as target_view shows it
        progress = {"percent": None, "remaining": None, "expected_by_now": None, "on_pace": None}
        if achieved is not None:
            whole = target["measure"] == "new_participants"
            # (a whole target as an int: figures.target_progress's integer path)
            progress = figures.target_progress(shown if type(shown) is int else value,
                                               achieved, target["starts_on"],
                                               target["ends_on"], as_of, whole=whole,
                                               baseline=0 if whole else baseline or 0)
        # target_view's keys, then these, in this order (the JSON is the same)
        rows.append({"year": target["year"], "province_code": target["province_code"],
                     "scheme": target["scheme"], "measure": target["measure"],
                     "name": target["name"], "starts_on": iso(target["starts_on"]),
                     "ends_on": iso(target["ends_on"]),
                     "target": shown,
                     "achieved": achieved, "as_of": shown_on, "percent": progress["percent"],
                     "remaining": progress["remaining"],
                     "expected_by_now": progress["expected_by_now"],
                     "on_pace": progress["on_pace"]})
    return rows


def _memo(compute):
    """``compute`` called once per distinct arguments."""
    known = {}

    def cached(*args):
        if args not in known:
            known[args] = compute(*args)
        return known[args]
    return cached


def target_view(target):
    value = target["target"]
    return {"year": target["year"], "province_code": target["province_code"],
            "scheme": target["scheme"], "measure": target["measure"], "name": target["name"],
            "starts_on": target["starts_on"].isoformat(), "ends_on": target["ends_on"].isoformat(),
            "target": int(value) if value == int(value) else float(value)}


def _payments(cur, first, last, province_code):
    """``{(month, kind): [payments, amount]}`` in the province (today's units) or everywhere."""
    codes = None if province_code is None else codes_of({province_code})
    totals = defaultdict(lambda: [0, 0])
    for month, kind, payments, amount in store.benefit_payments(cur, first, last, codes):
        totals[(month, kind)] = [payments, amount]
    return totals


def _months(first, last):
    month = first
    while month <= last:
        yield month
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _beneficiaries(totals, kind, months):
    """People paid: at the last month paid for monthly benefits, over the period for lump sums."""
    if kind in MONTHLY_KINDS:
        paid = [m for m in months if totals.get((m, kind), [0])[0]]
        return totals[(paid[-1], kind)][0] if paid else 0
    return sum(totals.get((m, kind), [0, 0])[0] for m in months)


def benefits_summary(cur, first, last, province_code=None):
    """Per kind: beneficiaries and amount in ``first``..``last`` and in the same months a year before."""
    earlier = (first.replace(year=first.year - 1), last.replace(year=last.year - 1))
    now, before = _payments(cur, first, last, province_code), _payments(cur, *earlier, province_code)
    months, months_before = list(_months(first, last)), list(_months(*earlier))
    clock = store.clock(cur).get("benefits")
    rows = []
    for kind in KINDS:
        amount = sum(now.get((m, kind), [0, 0])[1] for m in months)
        previous = sum(before.get((m, kind), [0, 0])[1] for m in months_before)
        rows.append({"kind": kind, "beneficiaries": _beneficiaries(now, kind, months),
                     "amount": amount,
                     "beneficiaries_same_period_last_year": _beneficiaries(before, kind, months_before),
                     "amount_same_period_last_year": previous,
                     "change_percent": figures.change_percent(amount, previous),
                     "period_start": first.strftime("%Y-%m"), "period_end": last.strftime("%Y-%m"),
                     "as_of": clock.isoformat() if clock else None})
    return rows


def benefits_by_month(cur, year, province_code=None):
    first, last = figures.year_bounds(year)
    now = _payments(cur, first, last, province_code)
    before = _payments(cur, first.replace(year=year - 1), last.replace(year=year - 1), province_code)
    return [{"month": month.strftime("%Y-%m"), "kind": kind,
             "beneficiaries": now.get((month, kind), [0, 0])[0],
             "amount": now.get((month, kind), [0, 0])[1],
             "beneficiaries_last_year": before.get((month.replace(year=year - 1), kind), [0, 0])[0],
             "amount_last_year": before.get((month.replace(year=year - 1), kind), [0, 0])[1]}
            for month in _months(first, last) for kind in KINDS]


def programme_summary(cur, programme_code=None):
    clock = store.clock(cur).get("programmes")
    rows = []
    for row in store.programme_rows(cur, programme_code):
        breakdown = store.programme_breakdown(cur, row["programme_code"])
        sponsors, provinces = defaultdict(lambda: defaultdict(int)), defaultdict(lambda: defaultdict(int))
        for part in breakdown:
            for group, key in ((sponsors, part["sponsor"]), (provinces, today_unit(part["province_code"]))):
                for field in ("grants", "health_cards", "si_books", "amount"):
                    group[key][field] += part[field]
        rows.append(dict(
            row, sponsors=row["sponsors"],
            books_to_goal=max(row["goal_books"] - row["si_books"], 0),
            cards_to_goal=max(row["goal_cards"] - row["health_cards"], 0),
            per_sponsor=[dict(v, sponsor=k) for k, v in sorted(sponsors.items())],
            per_province=[dict(v, province_code=k) for k, v in sorted(provinces.items())],
            as_of=clock.isoformat() if clock else None))
    return rows
