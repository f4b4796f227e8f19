// The points liability at a glance: what was issued, spent and expired over a range, what is
// owed, who the members are, which budgets are nearly spent, and whether the scheduler runs.

import { gql } from "../api.js";
import { barChart, hBars, lineChart, responsive } from "../chart.js";
import { field, h, replace, table } from "../dom.js";
import { t } from "../i18n.js";
import { addDays, dayOf, dayStart, num, when } from "../time.js";

const QUERY = `query Dashboard($from: DateTime!, $to: DateTime!, $group: SummaryGroupBy!) {
  byPeriod: ledgerSummary(from: $from, to: $to, groupBy: $group) {
    outstanding rows { group issued spent expired net outstanding members }
  }
  byCampaign: ledgerSummary(from: $from, to: $to, groupBy: CAMPAIGN) { rows { group issued } }
  memberStats(from: $from, to: $to) { total new }
  walletTotals { available pending held }
  campaigns { key title budget budgetLeft pointsIssued retired }
  schedulerRuns(first: 8) {
    startedAt seconds pointsExpired holdsExpired periodsPaid birthdays
  }
  LEVELS
}`;
// Asked only of a key that may read the ladder; null when the rules have no levels block.
const LEVELS = "levels { name steps { key at members } }";

const NEARLY_SPENT = 0.2; // a budget with less than this share left is flagged

function kpi(id, label, value, note) {
  return h("div", { class: "kpi card" }, h("div", { class: "kpi-label", id: `${id}-label` }, label),
    h("div", { class: "kpi-value", "data-testid": id, "data-value": value,
      "aria-labelledby": `${id}-label` }, num(value)),
    note ? h("div", { class: "kpi-note muted" }, note) : null);
}

export default {
  id: "dashboard",
  allowed: (may) => may("Query.ledgerSummary"),
  async render(main, ctx) {
    const today = dayOf(ctx.program.now);
    const first = h("input", { type: "date", name: "from", value: addDays(today, -29) });
    const last = h("input", { type: "date", name: "to", value: today });
    const group = h("select", { name: "group" },
      ["DAY", "WEEK", "MONTH"].map((g) => h("option", { value: g }, t(`period.${g}`))));
    const body = h("div", { class: "dashboard" });
    const form = h("form", { class: "toolbar", "aria-label": t("dash.range") },
      field(t("dash.from"), first), field(t("dash.to"), last), field(t("dash.group"), group),
      h("button", { type: "submit", class: "primary" }, t("dash.apply")));
    const load = async () => {
      const variables = { from: dayStart(first.value), to: dayStart(addDays(last.value, 1)),
        group: group.value };
      form.dataset.from = variables.from;
      form.dataset.to = variables.to;
      body.setAttribute("aria-busy", "true");
      const query = QUERY.replace("LEVELS", ctx.may("Query.levels") ? LEVELS : "");
      const data = await gql(query, variables);
      draw(body, data);
      body.removeAttribute("aria-busy");
      body.dataset.loaded = `${variables.from}/${variables.to}`;
    };
    form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
    replace(main, h("h1", {}, t("nav.dashboard")), form, body);
    await load();
  },
};

function draw(body, data) {
  const rows = data.byPeriod.rows;
  const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
  const kpis = h("section", { class: "kpis", "aria-label": t("dash.figures") },
    kpi("kpi-issued", t("dash.issued"), sum("issued")),
    kpi("kpi-pending", t("dash.pending"), data.walletTotals.pending, t("dash.now")),
    kpi("kpi-spent", t("dash.spent"), sum("spent")),
    kpi("kpi-expired", t("dash.expired"), sum("expired")),
    kpi("kpi-outstanding", t("dash.outstanding"), data.byPeriod.outstanding, t("dash.atEnd")),
    kpi("kpi-members", t("dash.members"), data.memberStats.total,
      t("dash.newMembers", { n: num(data.memberStats.new) })));
  const labels = rows.map((r) => r.group.slice(5));
  const flows = responsive((width) => barChart({
    title: t("dash.flows"), labels, fmt: num, width,
    series: [
      { name: t("dash.issued"), cls: "s-issued", values: rows.map((r) => r.issued) },
      { name: t("dash.spent"), cls: "s-spent", values: rows.map((r) => r.spent) },
      { name: t("dash.expired"), cls: "s-expired", values: rows.map((r) => r.expired) },
    ],
  }));
  const owed = responsive((width) => lineChart({ title: t("dash.owedOverTime"), labels,
    fmt: num, width, values: rows.map((r) => r.outstanding), name: t("dash.outstanding") }));
  const byCampaign = data.byCampaign.rows.filter((r) => r.issued)
    .sort((a, b) => b.issued - a.issued)
    .map((r) => ({ label: r.group || t("dash.manual"), value: r.issued }));
  const campaignChart = byCampaign.length
    ? responsive((width) => hBars({ title: t("dash.byCampaign"), rows: byCampaign, fmt: num,
      width }))
    : h("p", { class: "muted" }, t("dash.nothingIssued"));
  const budgets = data.campaigns.filter((c) => c.budget !== null && !c.retired)
    .sort((a, b) => a.budgetLeft / a.budget - b.budgetLeft / b.budget);
  const budgetTable = table([
    { title: t("camp.key"), cell: (c) => c.key },
    { title: t("dash.leftOfBudget"), num: true,
      cell: (c) => `${num(c.budgetLeft)} / ${num(c.budget)}` },
    { title: t("dash.shareLeft"), cell: (c) => meter(c.budgetLeft / c.budget) },
  ], budgets, {
    empty: t("dash.noBudgets"), class: "grid budgets",
    rowAttrs: (c) => ({ class: c.budgetLeft / c.budget < NEARLY_SPENT ? "warn" : null }),
  });
  const runs = table([
    { title: t("runs.at"), cell: (r) => when(r.startedAt) },
    { title: t("runs.seconds"), num: true, cell: (r) => r.seconds.toFixed(2) },
    { title: t("runs.expired"), num: true, cell: (r) => num(r.pointsExpired) },
    { title: t("runs.holds"), num: true, cell: (r) => num(r.holdsExpired) },
    { title: t("runs.periods"), num: true, cell: (r) => num(r.periodsPaid) },
    { title: t("runs.birthdays"), num: true, cell: (r) => num(r.birthdays) },
  ], data.schedulerRuns, { empty: t("runs.none") });
  replace(body, kpis, h("div", { class: "panels" },
    panel(t("dash.flows"), flows, "wide"),
    panel(t("dash.byCampaign"), campaignChart),
    panel(t("dash.owedOverTime"), owed),
    panel(t("dash.budgets"), budgetTable),
    data.levels
      ? panel(t("dash.byLevel"), levelChart(data.levels, data.memberStats.total), null, "levels")
      : null,
    panel(t("runs.title"), runs, "wide", "runs")));
}

// Members by level, highest first; every other member (below the first level, or never
// evaluated yet) last, so the rows add up to the members in all.
function levelChart(ladder, total) {
  const rows = [...ladder.steps].reverse().map((step) => ({ label: step.key, value: step.members }));
  const held = ladder.steps.reduce((n, step) => n + step.members, 0);
  rows.push({ label: t("dash.noLevel"), value: Math.max(0, total - held) });
  return h("div", { "data-testid": "levels" },
    responsive((width) => hBars({ title: t("dash.byLevel"), rows, fmt: num, width })),
    table([
      { title: t("lvl.level"), cell: (r) => r.label },
      { title: t("dash.members"), num: true, cell: (r) => num(r.value) },
    ], rows, { class: "grid compact" }));
}

function panel(title, content, cls, id) {
  return h("section", { class: `panel card ${cls || ""}`, "data-panel": id || null },
    h("h2", {}, title), content);
}

function meter(share) {
  const pct = Math.max(0, Math.min(1, share)) * 100;
  const bar = h("span", { class: "meter-bar" });
  bar.style.width = `${pct}%`;
  return h("span", { class: "meter", role: "meter", "aria-valuenow": Math.round(pct),
    "aria-valuemin": 0, "aria-valuemax": 100, "aria-label": `${Math.round(pct)}%` },
  h("span", { class: "meter-track" }, bar), h("span", { class: "meter-text" }, `${Math.round(pct)}%`));
}
