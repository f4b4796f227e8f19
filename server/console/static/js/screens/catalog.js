// Catalog, lotteries and data: items with stock and limits, lotteries with their published
// odds and the audit of their draws, and the ledger export for a range.

import { download, EXPORT_URL, gql } from "../api.js";
import { field, h, replace, table } from "../dom.js";
import { t } from "../i18n.js";
import { addDays, dayOf, dayStart, num, when } from "../time.js";

const ITEMS = `{ catalogItems(first: 50, includeRetired: true) { edges { node {
  id title pointsPrice cashPrice currency stock limitPerMember limitPeriod
  availableFrom availableUntil community tags retiredAt available
} } } }`;
const LOTTERIES = `{ lotteries(first: 20) { edges { node {
  id title cost dailyLimit budget guaranteeWin pityCount availableFrom availableUntil
  odds { probability prize { id label kind points stock } }
} } } }`;
const IMPORT = `mutation Import($s: String!, $f: ImportFormat!, $dry: Boolean!) {
  historyImport(input: {source: $s, format: $f, dryRun: $dry}) {
    records imported replayed membersCreated dryRun
    campaigns { campaign awarded takenBack } refused { line code message }
    warnings { line code message } userErrors { code field message } } }`;
const DRAWS = `query Draws($id: ID!) { draws(lotteryId: $id, first: 20) { edges { node {
  id createdAt outcome randomValue pity prize { label } member { externalId }
} } } }`;

export default {
  id: "catalog",
  allowed: (may) => may("Query.catalogItems") && may("Query.draws"),
  async render(main, ctx) {
    const [{ catalogItems }, { lotteries }] = await Promise.all([gql(ITEMS), gql(LOTTERIES)]);
    const items = catalogItems.edges.map((e) => e.node);
    replace(main, h("h1", {}, t("nav.catalog")),
      h("section", { class: "panel card" }, h("h2", {}, t("cat.items")), itemTable(items)),
      h("section", { class: "panel card" }, h("h2", {}, t("cat.lotteries")),
        lotteries.edges.length ? lotteries.edges.map((e) => lottery(e.node))
          : h("p", { class: "muted" }, t("cat.noLotteries"))),
      ctx.may("GET /export/ledger.csv") ? exportForm(ctx) : null,
      ctx.may("Mutation.historyImport") ? importForm() : null);
  },
};

function itemTable(items) {
  return table([
    { title: t("cat.item"), cell: (i) => h("span", {}, i.title,
      i.tags.map((tag) => h("span", { class: "tag" }, tag))) },
    { title: t("cat.price"), num: true, cell: (i) => num(i.pointsPrice) +
      (i.cashPrice ? ` + ${i.cashPrice} ${i.currency}` : "") },
    { title: t("cat.stock"), num: true, cell: (i) => (i.stock === null ? "∞" : num(i.stock)) },
    { title: t("cat.limit"), cell: (i) => (i.limitPerMember
      ? t("cat.limitPer", { n: i.limitPerMember, period: t(`per.${i.limitPeriod}`) }) : "—") },
    { title: t("cat.window"), cell: (i) => (i.availableFrom || i.availableUntil
      ? `${when(i.availableFrom) || "…"} – ${when(i.availableUntil) || "…"}` : t("camp.always")) },
    { title: t("cat.community"), cell: (i) => i.community || "—" },
    { title: t("cat.state"), cell: (i) => (i.retiredAt ? t("cat.retired")
      : i.available ? t("cat.available") : t("cat.unavailable")) },
  ], items, { empty: t("cat.noItems"), rowAttrs: (i) => ({ class: i.retiredAt ? "retired" : null }) });
}

function lottery(l) {
  const audit = h("div", {});
  const show = h("button", { type: "button", onclick: async () => {
    const { draws } = await gql(DRAWS, { id: l.id });
    replace(audit, table([
      { title: t("cat.drawn"), cell: (d) => when(d.createdAt) },
      { title: t("rv.member"), cell: (d) => d.member.externalId },
      { title: t("cat.outcome"), cell: (d) => (d.prize ? d.prize.label : t(`outcome.${d.outcome}`)) },
      { title: t("cat.random"), cell: (d) => h("code", {}, d.randomValue) },
      { title: t("cat.pity"), cell: (d) => (d.pity ? "✓" : "") },
    ], draws.edges.map((e) => e.node), { empty: t("cat.noDraws"), caption: t("cat.audit") }));
  }, "aria-label": t("cat.auditOf", { title: l.title }) }, t("cat.audit"));
  return h("article", { class: "lottery", "data-lottery": l.id },
    h("h3", {}, l.title, " ", h("span", { class: "muted" }, t("cat.cost", { n: num(l.cost) }))),
    h("dl", { class: "facts inline" },
      h("dt", {}, t("cat.daily")), h("dd", {}, l.dailyLimit ?? "—"),
      h("dt", {}, t("camp.budget")), h("dd", {}, num(l.budget)),
      h("dt", {}, t("cat.pityCount")), h("dd", {}, l.pityCount ?? "—"),
      h("dt", {}, t("cat.guarantee")), h("dd", {}, l.guaranteeWin ? "✓" : "—")),
    table([
      { title: t("cat.prize"), cell: (o) => (o.prize ? o.prize.label : t("outcome.none")) },
      { title: t("cat.kind"), cell: (o) => (o.prize ? t(`outcome.${o.prize.kind}`) : "") },
      { title: t("cat.stock"), num: true, cell: (o) => (!o.prize ? ""
        : o.prize.stock === null ? "∞" : num(o.prize.stock)) },
      { title: t("cat.odds"), num: true, cell: (o) => `${(o.probability * 100).toFixed(2)}%` },
    ], l.odds, { caption: t("cat.oddsCaption") }),
    show, audit);
}

function exportForm(ctx) {
  const today = dayOf(ctx.program.now);
  const from = h("input", { type: "date", name: "exportFrom", value: addDays(today, -29) });
  const to = h("input", { type: "date", name: "exportTo", value: today });
  const status = h("p", { class: "status", role: "status" });
  const form = h("form", { class: "toolbar", "aria-labelledby": "export-title" },
    field(t("dash.from"), from), field(t("dash.to"), to),
    h("button", { type: "submit", class: "primary" }, t("cat.download")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const url = new URL(EXPORT_URL);
    url.searchParams.set("from", dayStart(from.value));
    url.searchParams.set("to", dayStart(addDays(to.value, 1)));
    try {
      const { blob, name } = await download(url.href);
      const link = h("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      status.textContent = t("cat.downloaded", { name, size: num(blob.size) });
    } catch (exc) {
      status.className = "status error";
      status.textContent = exc.message;
    }
  });
  return h("section", { class: "panel card" }, h("h2", { id: "export-title" }, t("cat.export")),
    h("p", { class: "muted" }, t("cat.exportIntro")), form, status);
}

// The history import: a file of members, joins, leaves, events and balances, tried first
// (a dry run shows what each campaign would award), then imported; a second import of the
// same file imports nothing twice.
function importForm() {
  const file = h("input", { type: "file", name: "importFile", accept: ".jsonl,.json,.csv" });
  const status = h("p", { class: "status", role: "status" });
  const result = h("div", {});
  const run = async (dry) => {
    const chosen = file.files[0];
    if (!chosen) {
      status.className = "status error";
      status.textContent = t("imp.choose");
      return;
    }
    status.className = "status";
    status.textContent = t("imp.working");
    const format = chosen.name.toLowerCase().endsWith(".csv") ? "CSV" : "JSONL";
    try {
      const { historyImport: r } = await gql(IMPORT, { s: await chosen.text(), f: format, dry });
      if (r.userErrors.length) {
        status.className = "status error";
        status.textContent = t("imp.refusedFile");
        replace(result, table([
          { title: t("imp.where"), cell: (e) => e.field },
          { title: t("imp.why"), cell: (e) => e.message },
        ], r.userErrors, { caption: t("imp.refusedFile") }));
        return;
      }
      status.textContent = t(r.dryRun ? "imp.wouldDo" : "imp.done", {
        records: num(r.records), imported: num(r.imported), replayed: num(r.replayed),
        refused: num(r.refused.length), members: num(r.membersCreated),
      });
      replace(result,
        table([
          { title: t("imp.campaign"), cell: (c) => c.campaign },
          { title: t(r.dryRun ? "imp.wouldAward" : "imp.awarded"), num: true, cell: (c) => num(c.awarded) },
          { title: t("imp.takenBack"), num: true, cell: (c) => num(c.takenBack) },
        ], r.campaigns, { empty: t("imp.noAwards"), caption: t("imp.byCampaign") }),
        r.refused.length || r.warnings.length ? table([
          { title: t("imp.line"), num: true, cell: (p) => p.line },
          { title: t("imp.code"), cell: (p) => p.code },
          { title: t("imp.why"), cell: (p) => p.message },
        ], [...r.refused, ...r.warnings], { caption: t("imp.problems") }) : null);
    } catch (exc) {
      status.className = "status error";
      status.textContent = exc.message;
    }
  };
  const form = h("form", { class: "toolbar", "aria-labelledby": "import-title" },
    field(t("imp.file"), file),
    h("button", { type: "button", onclick: () => run(true) }, t("imp.dryRun")),
    h("button", { type: "button", class: "primary", onclick: () => run(false) }, t("imp.import")));
  form.addEventListener("submit", (e) => e.preventDefault());
  return h("section", { class: "panel card" }, h("h2", { id: "import-title" }, t("cat.import")),
    h("p", { class: "muted" }, t("imp.intro")), form, status, result);
}
