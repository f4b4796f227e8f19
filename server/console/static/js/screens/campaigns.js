// Campaigns: what is live, and the rules as text with the checker's diagnostics as the
// operator types, fmt, a simulation of the draft, a diff against the live rules, publish.

import { gql, mutate } from "../api.js";
import { hBars, responsive } from "../chart.js";
import { diffLines, hunks } from "../diff.js";
import { debounce, field, h, replace, table } from "../dom.js";
import { ruleEditor } from "../editor.js";
import { t } from "../i18n.js";
import { addDays, dayOf, dayStart, num, when } from "../time.js";

const LIST = `{ campaigns { key title version activatedAt retired activeFrom activeUntil
  budget budgetLeft pointsIssued } }`;
const LIVE = `{ rulesInForce }`;
const VALIDATE = `query Validate($source: String!) {
  rulesValidate(source: $source, filename: "rules") {
    ok diagnostics { severity code message line column }
  }
}`;
const FORMAT = `query Format($source: String!) {
  rulesFormat(source: $source, filename: "rules") {
    source diagnostics { severity code message line column }
  }
}`;
const SIMULATE = `query Simulate($source: String!, $from: DateTime!, $to: DateTime!) {
  rulesSimulate(source: $source, from: $from, to: $to) {
    eventsReplayed eventsInRange membersReached points
    campaigns { key points awards members budget budgetHitAt }
    rules { campaign line text points awards members }
  }
}`;
const PUBLISH = `mutation Publish($source: String!) {
  rulesPublish(input: {source: $source, filename: "rules"}) {
    campaigns { key version changed retired }
    diagnostics { severity code message line column }
    userErrors { code message line column }
  }
}`;

export default {
  id: "campaigns",
  allowed: (may) => may("Query.campaigns") && may("Query.rulesSimulate"),
  async render(main, ctx) {
    const [{ campaigns }, { rulesInForce }] = await Promise.all([gql(LIST), gql(LIVE)]);
    let live = rulesInForce;
    const list = h("div", {});
    const drawList = (rows) => replace(list, campaignTable(rows));
    drawList(campaigns);

    const canCheck = ctx.may("Query.rulesValidate");
    const canPublish = ctx.may("Mutation.rulesPublish");
    const editor = ruleEditor({ value: live, label: t("ed.label") });
    const status = h("p", { class: "status", role: "status", "data-testid": "rules-status" });
    const output = h("div", { class: "output" });
    let sequence = 0;

    const check = async () => {
      if (!canCheck) return;
      const mine = (sequence += 1);
      status.textContent = t("ed.checking");
      const { rulesValidate } = await gql(VALIDATE, { source: editor.value });
      if (mine !== sequence) return; // a newer check is on its way
      editor.setDiagnostics(rulesValidate.diagnostics);
      const errors = rulesValidate.diagnostics.filter((d) => d.severity === "error").length;
      const warnings = rulesValidate.diagnostics.length - errors;
      status.className = `status ${errors ? "error" : "ok"}`;
      status.textContent = errors || warnings ? t("ed.found", { errors, warnings })
        : t("ed.clean");
      status.dataset.errors = errors;
    };
    editor.area.addEventListener("input", debounce(check, 350));

    const buttons = [];
    if (ctx.may("Query.rulesFormat")) {
      buttons.push(h("button", { type: "button", onclick: async () => {
        const { rulesFormat } = await gql(FORMAT, { source: editor.value });
        if (rulesFormat.source !== null) {
          editor.value = rulesFormat.source;
          await check();
        } else {
          editor.setDiagnostics(rulesFormat.diagnostics);
          status.className = "status error";
          status.textContent = t("ed.cannotFormat");
        }
      } }, t("ed.format")));
    }
    buttons.push(h("button", { type: "button", onclick: () => replace(output,
      diffView(live, editor.value)) }, t("ed.diff")));
    buttons.push(h("button", { type: "button", onclick: async () => {
      editor.value = live;
      replace(output);
      await check();
    } }, t("ed.reset")));
    if (canPublish) {
      buttons.push(h("button", { type: "button", class: "primary", onclick: async () => {
        const p = await mutate(PUBLISH, { source: editor.value });
        if (p.userErrors.length) {
          editor.setDiagnostics(p.diagnostics);
          status.className = "status error";
          status.textContent = t("ed.notPublished");
          return;
        }
        const [{ campaigns: rows }, { rulesInForce: now }] = await Promise.all([gql(LIST), gql(LIVE)]);
        live = now;
        drawList(rows);
        replace(output, publishedView(p.campaigns));
        status.className = "status ok";
        status.textContent = t("ed.published");
      } }, t("ed.publish")));
    }

    const today = dayOf(ctx.program.now);
    const from = h("input", { type: "date", name: "simFrom", value: addDays(today, -29) });
    const to = h("input", { type: "date", name: "simTo", value: today });
    const simForm = h("form", { class: "toolbar", "aria-label": t("sim.title") },
      field(t("dash.from"), from), field(t("dash.to"), to),
      h("button", { type: "submit" }, t("sim.run")));
    simForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      replace(output, h("p", { class: "muted" }, t("sim.running")));
      try {
        const { rulesSimulate } = await gql(SIMULATE, { source: editor.value,
          from: dayStart(from.value), to: dayStart(addDays(to.value, 1)) });
        replace(output, simulationView(rulesSimulate));
      } catch (exc) {
        replace(output, h("p", { class: "error", role: "alert" }, exc.message));
      }
    });

    replace(main, h("h1", {}, t("nav.campaigns")),
      h("section", { class: "panel card" }, h("h2", {}, t("camp.live")), list),
      h("section", { class: "panel card", "aria-labelledby": "rules-title" },
        h("div", { class: "panel-head" }, h("h2", { id: "rules-title" }, t("ed.title")),
          h("div", { class: "actions" }, buttons)),
        h("p", { class: "muted" }, canCheck ? t("ed.intro") : t("ed.introReadOnly")),
        h("div", { class: "workbench" },
          h("div", { class: "bench-left" }, editor.el, status, editor.list),
          h("div", { class: "bench-right" }, simForm, output))));
    await check();
  },
};

function campaignTable(rows) {
  return table([
    { title: t("camp.key"), cell: (c) => h("code", {}, c.key) },
    { title: t("camp.title"), cell: (c) => c.title || "" },
    { title: t("camp.version"), num: true, cell: (c) => `v${c.version}` },
    { title: t("camp.since"), cell: (c) => when(c.activatedAt) },
    { title: t("camp.window"), cell: (c) => (c.retired ? t("camp.retired")
      : c.activeFrom || c.activeUntil ? `${c.activeFrom || "…"} – ${c.activeUntil || "…"}`
        : t("camp.always")) },
    { title: t("camp.budget"), num: true, cell: (c) => num(c.budget) },
    { title: t("camp.left"), num: true, cell: (c) => num(c.budgetLeft) },
    { title: t("camp.issued"), num: true, cell: (c) => num(c.pointsIssued) },
  ], rows, {
    empty: t("camp.none"), class: "grid campaigns",
    rowAttrs: (c) => ({ "data-campaign": c.key, "data-version": c.version,
      class: c.retired ? "retired" : null }),
  });
}

function diffView(before, after) {
  const lines = diffLines(before, after);
  const changed = lines.filter((l) => l.op !== " ").length;
  if (!changed) return h("p", { class: "muted", "data-testid": "diff" }, t("diff.none"));
  return h("section", { "aria-label": t("diff.title") },
    h("h3", {}, t("diff.title"), " ", h("span", { class: "muted" },
      t("diff.count", { added: lines.filter((l) => l.op === "+").length,
        removed: lines.filter((l) => l.op === "-").length }))),
    h("pre", { class: "diff", "data-testid": "diff" }, hunks(lines).map((l) => (l === null
      ? h("span", { class: "skip" }, "…\n")
      : h("span", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "same" },
        `${l.op} ${l.text}\n`)))));
}

function publishedView(rows) {
  return h("section", { "aria-label": t("ed.published") }, h("h3", {}, t("ed.published")),
    table([
      { title: t("camp.key"), cell: (c) => c.key },
      { title: t("camp.version"), num: true, cell: (c) => `v${c.version}` },
      { title: t("pub.change"), cell: (c) => (c.retired ? t("camp.retired")
        : c.changed ? t("pub.new") : t("pub.same")) },
    ], rows));
}

function simulationView(sim) {
  const byCampaign = sim.campaigns.filter((c) => c.points || c.members);
  return h("section", { class: "simulation", "aria-label": t("sim.title"), "data-testid": "simulation" },
    h("h3", {}, t("sim.title")),
    h("dl", { class: "facts inline" },
      h("dt", {}, t("sim.points")), h("dd", { "data-testid": "sim-points" }, num(sim.points)),
      h("dt", {}, t("sim.members")), h("dd", {}, num(sim.membersReached)),
      h("dt", {}, t("sim.inRange")), h("dd", {}, num(sim.eventsInRange)),
      h("dt", {}, t("sim.replayed")), h("dd", {}, num(sim.eventsReplayed))),
    byCampaign.length ? h("div", { class: "panels" },
      h("div", {}, h("h4", {}, t("sim.pointsByCampaign")), responsive((width) => hBars({
        title: t("sim.pointsByCampaign"), width,
        rows: byCampaign.map((c) => ({ label: c.key, value: c.points })), fmt: num }))),
      h("div", {}, h("h4", {}, t("sim.membersByCampaign")), responsive((width) => hBars({
        title: t("sim.membersByCampaign"), cls: "s-members", width,
        rows: byCampaign.map((c) => ({ label: c.key, value: c.members })), fmt: num }))))
      : h("p", { class: "muted" }, t("sim.nothing")),
    table([
      { title: t("camp.key"), cell: (c) => c.key },
      { title: t("sim.pointsCol"), num: true, cell: (c) => num(c.points) },
      { title: t("sim.awards"), num: true, cell: (c) => num(c.awards) },
      { title: t("sim.membersCol"), num: true, cell: (c) => num(c.members) },
      { title: t("camp.budget"), num: true, cell: (c) => num(c.budget) },
      { title: t("sim.budgetHit"), cell: (c) => when(c.budgetHitAt) || "—" },
    ], sim.campaigns, { caption: t("sim.perCampaign") }),
    table([
      { title: t("camp.key"), cell: (r) => r.campaign },
      { title: t("sim.line"), num: true, cell: (r) => r.line },
      { title: t("sim.rule"), cell: (r) => h("code", {}, r.text) },
      { title: t("sim.pointsCol"), num: true, cell: (r) => num(r.points) },
      { title: t("sim.awards"), num: true, cell: (r) => num(r.awards) },
      { title: t("sim.membersCol"), num: true, cell: (r) => num(r.members) },
    ], sim.rules, { caption: t("sim.perRule"), class: "grid rules" }));
}
