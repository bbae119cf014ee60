"use strict";
// The reporting dashboard. Everything comes from the service's own /api and
// is drawn here as SVG, so the page needs nothing from any other site. Every
// figure is also in the DOM as text, with its raw number in data-value.

const SCHEMES = [
  { key: "health", label: "HI", title: "Health insurance", parts: [] },
  { key: "social_insurance", label: "SI", title: "Social insurance",
    parts: ["compulsory_si", "voluntary_si"] },
  { key: "unemployment", label: "UI", title: "Unemployment insurance", parts: [] },
];
const SCHEME_LABELS = { registered: "Registered", health: "HI", compulsory_si: "Compulsory SI",
  voluntary_si: "Voluntary SI", social_insurance: "SI", unemployment: "UI" };
const KINDS = { pension: "Pensions", lump_sum: "Lump sums", unemployment: "Unemployment benefit" };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const NATIONAL = "VN";
const YEAR = new Date().getFullYear();

const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const moment = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" });
const percent = (value) => `${decimal.format(value)}%`;
const dong = (value) => `${whole.format(value)} ₫`;
const known = (value) => value !== null && value !== undefined;

// -- building the DOM (text only ever goes in as text, never as markup)

function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (known(value) && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (known(child) && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A figure as text, its raw value in data-value; "—" when there is none. */
function figure(tag, value, format, data = {}) {
  return el(tag, { ...data, "data-value": known(value) ? value : "" },
    known(value) ? format(value) : el("span", { class: "unknown" }, "—"));
}

function progressBar(reached, mark) {
  const fill = el("div", { class: reached >= 100 ? "bar-fill reached" : "bar-fill" });
  fill.style.width = `${Math.min(Math.max(reached || 0, 0), 100)}%`;
  const track = el("div", { class: "bar-track", role: "img",
    "aria-label": `${whole.format(Math.floor(reached || 0))}% reached` }, fill);
  if (known(mark)) {
    const marker = el("div", { class: "bar-mark", title: "where it should be by now" });
    marker.style.left = `${Math.min(Math.max(mark, 0), 100)}%`;
    track.append(marker);
  }
  return track;
}

// -- fetching, one section at a time

async function getReport(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail ? ` ${JSON.stringify(body.detail)}` : "";
    throw new Error(`${response.status} ${(body && body.error) || response.statusText}${detail}`);
  }
  return body;
}

async function show(id, path, render) {
  const section = document.getElementById(id);
  const status = section.querySelector(".status");
  try {
    const rows = await getReport(path);
    section.dataset.rows = rows.length;
    if (!rows.length) {
      status.textContent = "No figures yet.";
      section.dataset.state = "empty";
      return;
    }
    render(rows);
    showAsOf(section, rows);
    section.dataset.state = "ready";
  } catch (error) {
    status.textContent = `Could not load ${path}: ${error.message}`;
    status.classList.add("error");
    status.setAttribute("role", "alert");
    section.dataset.state = "error";
  }
}

function showAsOf(section, rows) {
  const times = rows.map((row) => row.as_of).filter(known);
  if (!times.length) return;
  const latest = times.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b));
  section.dataset.asOf = latest;
  section.querySelector(".as-of").replaceChildren(
    "Figures as of ", el("time", { datetime: latest }, moment.format(new Date(latest))), ".");
}

// -- (a) coverage by province

function provincesOf(rows) {
  const provinces = new Map();
  for (const row of rows) {
    if (!provinces.has(row.province_code)) {
      provinces.set(row.province_code, { code: row.province_code, rows: {},
        name: row.province_name || (row.province_code === NATIONAL ? "Whole country" : row.province_code) });
    }
    provinces.get(row.province_code).rows[row.scheme] = row;
  }
  const order = (p) => (p.code === NATIONAL ? "" : p.code);
  return [...provinces.values()].sort((a, b) => order(a).localeCompare(order(b)));
}

/** One scheme in one province; SI also lists its compulsory and voluntary parts. */
function schemeFigure(province, scheme) {
  const row = province.rows[scheme.key];
  if (!row) return null;
  return { participants: row.participants, rate: row.coverage_rate, target: row.national_target_percent,
    counted: known(row.denominator) ? row : null,
    parts: scheme.parts.map((name) => province.rows[name]).filter(known) };
}

function denominatorNote(row) {
  if (!row) return "denominator not known";
  const kind = row.denominator_kind === "population" ? "population" : "working-age labour force";
  const basis = [row.denominator_year, row.denominator_source].filter(known).join(", ");
  return `of ${whole.format(row.denominator)} ${kind}${basis ? ` (${basis})` : ""}`;
}

function renderCoverage(rows) {
  const provinces = provincesOf(rows);
  const national = provinces.find((p) => p.code === NATIONAL);
  if (national) renderNational(national);
  document.getElementById("coverage-charts").replaceChildren(
    ...SCHEMES.map((scheme) => coverageChart(scheme, provinces)));
  renderCoverageTable(provinces);
}

function renderNational(national) {
  const cards = SCHEMES.map((scheme) => {
    const f = schemeFigure(national, scheme);
    if (!f) return null;
    const data = { "data-province": NATIONAL, "data-scheme": scheme.key };
    return el("div", { class: "card", ...data },
      el("div", {}, `${scheme.title} (${scheme.label}), whole country`),
      known(f.rate)
        ? figure("div", f.rate, percent, { class: "big", "data-field": "coverage_rate" })
        : el("div", { class: "big unknown" }, "denominator not known"),
      known(f.rate) && known(f.target)
        ? [progressBar(f.rate / f.target * 100), el("div", {}, `national target ${percent(f.target)}`)]
        : null,
      el("div", {}, figure("span", f.participants, whole.format, { "data-field": "participants" }),
        " people"));
  }).filter(known);
  document.getElementById("national").replaceChildren(...cards);
}

function coverageChart(scheme, provinces) {
  const shown = provinces.map((province) => ({ province, f: schemeFigure(province, scheme) }))
    .filter(({ f }) => f);
  const caption = el("figcaption", {}, `${scheme.title} (${scheme.label})`);
  if (!shown.length) {
    return el("figure", { "data-scheme": scheme.key }, caption,
      el("p", { class: "note" }, "No one covered yet."));
  }
  const target = shown.map(({ f }) => f.target).find(known);
  const max = Math.max(100, ...shown.map(({ f }) => f.rate || 0));
  const [width, label, value, row, top, bottom] = [400, 118, 40, 13, 22, 16];
  const height = top + shown.length * row + bottom;
  const x = (v) => label + (v / max) * (width - label - value);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${scheme.title}: coverage rate by province`, "data-chart": `coverage-${scheme.key}` });
  const axis = svg("g", { class: "axis" });
  for (const tick of [0, 25, 50, 75, 100]) {
    axis.append(svg("line", { class: "grid", x1: x(tick), x2: x(tick), y1: top - 4, y2: height - bottom }),
      svg("text", { x: x(tick), y: height - 4, "text-anchor": "middle" }, `${tick}%`));
  }
  chart.append(axis);
  shown.forEach(({ province, f }, i) => {
    const y = top + i * row;
    const name = province.name.length > 22 ? `${province.name.slice(0, 21)}…` : province.name;
    const bar = svg("g", { "data-province": province.code, "data-scheme": scheme.key,
      class: province.code === NATIONAL ? "national-bar" : null },
    svg("title", {}, `${province.name}: ${known(f.rate) ? percent(f.rate) : "denominator not known"}, `
      + `${whole.format(f.participants)} people`),
    svg("text", { x: label - 4, y: y + row - 3, "text-anchor": "end" }, name));
    if (known(f.rate)) {
      bar.append(svg("rect", { class: `bar ${scheme.key}`, x: label, y: y + 1.5, height: row - 3,
        width: Math.max(x(f.rate) - label, 0.5) }),
      svg("text", { x: x(f.rate) + 3, y: y + row - 3 }, percent(f.rate)));
    } else {
      bar.append(svg("text", { x: label + 3, y: y + row - 3, class: "muted" },
        `${whole.format(f.participants)} people, denominator not known`));
    }
    chart.append(bar);
  });
  if (known(target)) {
    chart.append(svg("line", { class: "target", x1: x(target), x2: x(target), y1: top - 8,
      y2: height - bottom }),
      svg("text", { class: "target-label", x: x(target), y: top - 11, "text-anchor": "middle" },
        `target ${percent(target)}`));
  }
  return el("figure", { "data-scheme": scheme.key }, caption, chart);
}

function renderCoverageTable(provinces) {
  const head = el("tr", {}, el("th", {}, "Province"), el("th", {}, "Registered"),
    SCHEMES.map((s) => [el("th", {}, `${s.label} participants`), el("th", {}, `${s.label} coverage`)]));
  const body = provinces.map((province) => {
    const data = (scheme, field) => ({ "data-province": province.code, "data-scheme": scheme,
      "data-field": field });
    const registered = province.rows.registered;
    return el("tr", { class: province.code === NATIONAL ? "national-row" : null,
      "data-province": province.code },
      el("td", {}, province.code === NATIONAL ? province.name : `${province.code} ${province.name}`),
      figure("td", registered ? registered.participants : null, whole.format,
        data("registered", "participants")),
      SCHEMES.map((scheme) => {
        const f = schemeFigure(province, scheme);
        if (!f) return [figure("td", null), figure("td", null)];
        const participants = figure("td", f.participants, whole.format, data(scheme.key, "participants"));
        if (f.parts.length) {
          participants.append(el("span", { class: "parts" }, f.parts.map((row, i) => [i ? " + " : "",
            `${SCHEME_LABELS[row.scheme] || row.scheme} `,
            figure("span", row.participants, whole.format, data(row.scheme, "participants"))])));
        }
        const rate = known(f.rate)
          ? figure("td", f.rate, percent,
            { ...data(scheme.key, "coverage_rate"), title: denominatorNote(f.counted) })
          : el("td", { ...data(scheme.key, "coverage_rate"), "data-value": "", class: "unknown" },
            "denominator not known");
        return [participants, rate];
      }));
  });
  document.getElementById("coverage-table").replaceChildren(el("thead", {}, head), el("tbody", {}, body));
}

// -- (b) targets

function renderTargets(rows) {
  const schemeOrder = ["registered", "health", "social_insurance", "compulsory_si", "voluntary_si",
    "unemployment"];
  const key = (row) => [row.province_code === NATIONAL ? "" : row.province_code,
    String(schemeOrder.indexOf(row.scheme) + 10), row.measure].join("|");
  const sorted = [...rows].sort((a, b) => key(a).localeCompare(key(b)));
  document.getElementById("targets-list").replaceChildren(...sorted.map(targetItem));
}

function targetItem(row) {
  const isRate = row.measure === "coverage_rate";
  const amount = isRate ? percent : whole.format;
  const where = row.province_code === NATIONAL ? "whole country" : `province ${row.province_code}`;
  const scheme = SCHEME_LABELS[row.scheme] || row.scheme;
  const name = row.name || `${scheme} ${isRate ? "coverage" : "new participants"}, ${where}`;
  const reached = known(row.percent) ? row.percent
    : (row.target ? row.achieved / row.target * 100 : null);
  const data = (field) => ({ "data-field": field });
  const toGo = row.remaining > 0
    ? [figure("span", row.remaining, isRate ? (v) => `${decimal.format(v)} points` : whole.format,
      data("remaining")), " to go"]
    : "target reached";
  const pace = known(row.on_pace)
    ? el("span", { class: row.on_pace ? "pace on" : "pace behind" }, row.on_pace ? "on pace" : "behind pace")
    : null;
  return el("li", { class: "progress", "data-province": row.province_code, "data-scheme": row.scheme,
    "data-measure": row.measure, "data-year": row.year },
  el("div", { class: "label" },
    el("strong", { title: `${row.starts_on || ""} to ${row.ends_on || ""}` }, name), pace),
  progressBar(reached,
    row.target && known(row.expected_by_now) ? row.expected_by_now / row.target * 100 : null),
  el("div", {}, figure("span", reached, (v) => `${whole.format(Math.floor(v))}%`, data("percent")),
    " reached, ", toGo),
  el("div", { class: "summary" }, figure("span", row.achieved, amount, data("achieved")), " of ",
    figure("span", row.target, amount, data("target")), isRate ? " coverage" : " new participants",
    known(row.expected_by_now)
      ? ["; by now ", figure("span", row.expected_by_now, amount, data("expected_by_now"))] : ""));
}

// -- (c) benefits paid by month

function renderBenefits(rows) {
  const kinds = [...new Set([...Object.keys(KINDS), ...rows.map((row) => row.kind)])]
    .filter((kind) => rows.some((row) => row.kind === kind));
  const ofKind = (kind) => rows.filter((row) => row.kind === kind)
    .sort((a, b) => a.month.localeCompare(b.month));
  document.getElementById("benefits-charts").replaceChildren(
    ...kinds.map((kind) => benefitsChart(kind, ofKind(kind))));
  const fields = [["beneficiaries", whole.format], ["beneficiaries_last_year", whole.format],
    ["amount", dong], ["amount_last_year", dong]];
  const head = el("tr", {},
    ["Month", "Kind", "Beneficiaries", "a year before", "Amount paid", "a year before"]
      .map((title) => el("th", {}, title)));
  const body = kinds.flatMap((kind) => ofKind(kind)
    .map((row) => el("tr", { "data-month": row.month, "data-kind": kind }, el("td", {}, row.month),
      el("td", {}, KINDS[kind] || kind),
      fields.map(([field, format]) => figure("td", row[field], format,
        { "data-month": row.month, "data-kind": kind, "data-field": field })))));
  document.getElementById("benefits-table").replaceChildren(el("thead", {}, head), el("tbody", {}, body));
}

function benefitsChart(kind, rows) {
  const [width, height, left, top, bottom] = [400, 190, 46, 8, 20];
  const max = Math.max(0, ...rows.flatMap((row) => [row.amount || 0, row.amount_last_year || 0]));
  const caption = el("figcaption", {}, KINDS[kind] || kind);
  if (!max) {
    return el("figure", { "data-kind": kind }, caption,
      el("p", { class: "note" }, "Nothing paid this year or the year before."));
  }
  const y = (v) => height - bottom - (v / max) * (height - top - bottom);
  const slot = (width - left) / Math.max(rows.length, 1);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${KINDS[kind] || kind}: amount paid by month`, "data-chart": `benefits-${kind}` });
  const axis = svg("g", { class: "axis" });
  for (const tick of [0, max / 2, max]) {
    axis.append(svg("line", { class: "grid", x1: left, x2: width, y1: y(tick), y2: y(tick) }),
      svg("text", { x: left - 4, y: y(tick) + 3, "text-anchor": "end" }, compact.format(tick)));
  }
  chart.append(axis);
  rows.forEach((row, i) => {
    const x = left + i * slot;
    const bar = (value, cls, offset) => svg("rect", { class: `bar ${cls}`, x: x + offset, width: slot * 0.38,
      y: y(value || 0), height: height - bottom - y(value || 0) });
    const month = Number(row.month.slice(5, 7));
    chart.append(svg("g", { "data-month": row.month, "data-kind": kind },
      svg("title", {},
        `${row.month}: ${dong(row.amount || 0)}; a year before ${dong(row.amount_last_year || 0)}`),
      bar(row.amount_last_year, "last-year", slot * 0.1), bar(row.amount, "this-year", slot * 0.5),
      svg("text", { x: x + slot / 2, y: height - 6, "text-anchor": "middle" },
        MONTHS[month - 1] || row.month)));
  });
  return el("figure", { "data-kind": kind }, caption, chart);
}

// -- (d) programmes against their goals

function sponsorName(sponsor) {
  if (typeof sponsor !== "object" || sponsor === null) return String(sponsor);
  return sponsor.name || sponsor.sponsor_name || sponsor.code || JSON.stringify(sponsor);
}

function goalProgress(title, row, field, goalField) {
  const [done, goal] = [row[field] || 0, row[goalField]];
  const data = { "data-field": field };
  if (!goal) {
    return el("div", { class: "progress" }, el("div", { class: "label" }, title),
      el("div", { class: "summary" }, figure("span", done, whole.format, data), ", no goal set"));
  }
  return el("div", { class: "progress" }, el("div", { class: "label" }, title),
    progressBar(done / goal * 100),
    el("div", { class: "summary" }, figure("span", done, whole.format, data), " of ",
      figure("span", goal, whole.format, { "data-field": goalField }),
      ` (${whole.format(Math.floor(done / goal * 100))}% reached`,
      done < goal ? `, ${whole.format(goal - done)} to go)` : ")"));
}

function renderProgrammes(rows) {
  document.getElementById("programmes-list").replaceChildren(...rows.map((row) => {
    const sponsors = (row.sponsors || []).map(sponsorName);
    const money = (field, format) => figure("dd", row[field], format, { "data-field": field });
    return el("article", { "data-programme": row.programme_code },
      el("h3", {}, row.name || row.programme_code, " ", el("small", {}, row.programme_code)),
      el("div", { class: "sponsors" },
        sponsors.length ? `Sponsors: ${sponsors.join(", ")}` : "No sponsor recorded"),
      goalProgress("SI books", row, "si_books", "goal_books"),
      goalProgress("HI cards", row, "health_cards", "goal_cards"),
      el("dl", {}, el("dt", {}, "People supported"), money("people", whole.format),
        el("dt", {}, "Amount paid"), money("amount", dong), el("dt", {}, "Budget"), money("budget", dong)));
  }));
}

// -- the page

async function main() {
  document.getElementById("loaded-at").textContent = `Loaded ${moment.format(new Date())}.`;
  await Promise.all([
    show("coverage", "api/coverage", renderCoverage),
    show("targets", `api/targets?year=${YEAR}`, renderTargets),
    show("benefits", `api/benefits_by_month?year=${YEAR}`, renderBenefits),
    show("programmes", "api/programmes", renderProgrammes),
  ]);
  document.body.dataset.state = "ready";
}

main();
