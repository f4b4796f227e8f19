// Members: find one by platform id or name; a profile with balances, communities and the
// ledger with each entry's reason; manual adjustments and reversals for those who may.

import { gql, mutate } from "../api.js";
import { field, h, replace, table } from "../dom.js";
import { t } from "../i18n.js";
import { num, when } from "../time.js";

const ROW = "id externalId displayName availablePoints pendingPoints heldPoints createdAt";
const LIST = `query Members($after: String) {
  members(first: 20, after: $after) { edges { node { ${ROW} } } pageInfo { hasNextPage endCursor } }
}`;
const SEARCH = `query Search($text: String!) { memberSearch(text: $text, first: 20) { ${ROW} } }`;
const PROFILE = `query Member($id: ID!, $after: String) {
  member(id: $id) {
    ${ROW} birthday joinedAt
    communities { community joinedAt leftAt invitedByExternalId }
    expiringPoints(withinDays: 30) { total }
    level { key name multiply since until qualifyingFigure nextLevel toNext }
    streak { current lastDay freezesHeld }
    badges { key name earnedAt }
    ledger(first: 25, after: $after) {
      edges { node { id amount balanceAfter accountKind createdAt transaction {
        id kind why campaign campaignVersion ruleLine reversedBy { id } reverses { id }
      } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const ADJUST = `mutation Adjust($input: PointsAdjustInput!) {
  pointsAdjust(input: $input) {
    transaction { id } request { id status } replayed
    userErrors { code message field }
  }
}`;
const REVERSE = `mutation Reverse($input: TransactionReverseInput!) {
  transactionReverse(input: $input) { reversal { id } userErrors { code message field } }
}`;

export default {
  id: "members",
  allowed: (may) => may("Query.members") && may("Query.transaction"),
  async render(main, ctx) {
    if (ctx.params[0]) return profile(main, ctx, ctx.params[0]);
    return list(main);
  },
};

function memberTable(rows) {
  return table([
    { title: t("mem.externalId"), cell: (m) => h("a", { href: `#/members/${m.id}` }, m.externalId) },
    { title: t("mem.name"), cell: (m) => m.displayName || "" },
    { title: t("mem.available"), num: true, cell: (m) => num(m.availablePoints) },
    { title: t("mem.pending"), num: true, cell: (m) => num(m.pendingPoints) },
    { title: t("mem.held"), num: true, cell: (m) => num(m.heldPoints) },
    { title: t("mem.created"), cell: (m) => when(m.createdAt) },
  ], rows, { empty: t("mem.none"), class: "grid members" });
}

async function list(main) {
  const text = h("input", { type: "search", name: "q", autocomplete: "off" });
  const results = h("div", { class: "results" });
  const more = h("button", { type: "button", hidden: true }, t("common.more"));
  let rows = [];
  let after = null;
  const loadPage = async () => {
    const data = await gql(LIST, { after });
    rows = rows.concat(data.members.edges.map((e) => e.node));
    after = data.members.pageInfo.endCursor;
    more.hidden = !data.members.pageInfo.hasNextPage;
    replace(results, h("h2", {}, t("mem.newest")), memberTable(rows));
  };
  more.addEventListener("click", loadPage);
  const form = h("form", { class: "toolbar", role: "search" },
    field(t("mem.search"), text, t("mem.searchHint")),
    h("button", { type: "submit", class: "primary" }, t("mem.find")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!text.value.trim()) { rows = []; after = null; await loadPage(); return; }
    const data = await gql(SEARCH, { text: text.value });
    more.hidden = true;
    replace(results, h("h2", {}, t("mem.found", { n: data.memberSearch.length })),
      memberTable(data.memberSearch));
  });
  replace(main, h("h1", {}, t("nav.members")), form, results, more);
  await loadPage();
  text.focus();
}

async function profile(main, ctx, id) {
  const data = await gql(PROFILE, { id });
  const m = data.member;
  if (!m) {
    replace(main, h("h1", {}, t("nav.members")), h("p", { class: "error" }, t("mem.notFound")));
    return;
  }
  const balances = h("section", { class: "kpis", "aria-label": t("mem.balances") },
    card("bal-available", t("mem.available"), m.availablePoints),
    card("bal-pending", t("mem.pending"), m.pendingPoints),
    card("bal-held", t("mem.held"), m.heldPoints),
    card("bal-expiring", t("mem.expiring"), m.expiringPoints.total));
  const facts = h("dl", { class: "facts" },
    h("dt", {}, t("mem.id")), h("dd", {}, m.id),
    h("dt", {}, t("mem.externalId")), h("dd", {}, m.externalId),
    h("dt", {}, t("mem.birthday")), h("dd", {}, m.birthday || "—"),
    h("dt", {}, t("mem.joined")), h("dd", {}, when(m.joinedAt) || "—"),
    h("dt", {}, t("mem.created")), h("dd", {}, when(m.createdAt)));
  const communities = table([
    { title: t("mem.community"), cell: (c) => c.community },
    { title: t("mem.joined"), cell: (c) => when(c.joinedAt) },
    { title: t("mem.left"), cell: (c) => when(c.leftAt) || "—" },
    { title: t("mem.invitedBy"), cell: (c) => c.invitedByExternalId || "—" },
  ], m.communities, { empty: t("mem.noCommunities") });
  const ledgerRows = m.ledger.edges.map((e) => e.node);
  const ledger = h("div", {});
  const drawLedger = () => replace(ledger, ledgerTable(ledgerRows, ctx, main, id));
  drawLedger();
  const more = h("button", { type: "button", hidden: !m.ledger.pageInfo.hasNextPage },
    t("common.more"));
  let after = m.ledger.pageInfo.endCursor;
  more.addEventListener("click", async () => {
    const next = await gql(PROFILE, { id, after });
    ledgerRows.push(...next.member.ledger.edges.map((e) => e.node));
    after = next.member.ledger.pageInfo.endCursor;
    more.hidden = !next.member.ledger.pageInfo.hasNextPage;
    drawLedger();
  });
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/members" }, t("nav.members")), " / ", m.externalId),
    h("h1", {}, m.displayName || m.externalId),
    balances,
    h("div", { class: "panels" },
      h("section", { class: "panel card" }, h("h2", {}, t("mem.about")), facts),
      standing(m),
      h("section", { class: "panel card" }, h("h2", {}, t("mem.communities")), communities),
      ctx.may("Mutation.pointsAdjust") ? adjustForm(ctx, main, id) : null,
      h("section", { class: "panel card wide" }, h("h2", {}, t("mem.ledger")), ledger, more)));
}

// Where the member stands: level (and how far the next one is), streak, badges.
function standing(m) {
  const rows = [];
  const level = m.level;
  if (level) {
    const perk = level.multiply ? ` ×${level.multiply}` : "";
    rows.push(h("dt", {}, t("lvl.level")),
      h("dd", { "data-testid": "level" }, level.key ? `${level.name}${perk}` : t("lvl.none")));
    if (level.since) rows.push(h("dt", {}, t("lvl.since")), h("dd", {}, when(level.since)));
    if (level.until) rows.push(h("dt", {}, t("lvl.until")), h("dd", {}, when(level.until)));
    rows.push(h("dt", {}, t("lvl.figure")),
      h("dd", { "data-testid": "level-figure" }, num(level.qualifyingFigure)));
    if (level.nextLevel) {
      rows.push(h("dt", {}, t("lvl.next")), h("dd", { "data-testid": "level-next" },
        t("lvl.toNext", { n: num(level.toNext), level: level.nextLevel })));
    }
  }
  if (m.streak) {
    rows.push(h("dt", {}, t("lvl.streak")), h("dd", { "data-testid": "streak" },
      t(m.streak.current === 1 ? "lvl.streakDay" : "lvl.streakDays", { n: num(m.streak.current) })
        + (m.streak.lastDay ? ` · ${t("lvl.lastDay", { day: m.streak.lastDay })}` : "")),
    h("dt", {}, t("lvl.freezes")), h("dd", { "data-testid": "freezes" }, num(m.streak.freezesHeld)));
  }
  const badges = m.badges || [];
  return h("section", { class: "panel card", "data-panel": "standing" },
    h("h2", {}, t("lvl.title")), h("dl", { class: "facts" }, ...rows),
    h("div", { class: "badges", "data-testid": "badges" },
      h("h3", {}, t("lvl.badges")),
      badges.length
        ? h("ul", { class: "tags" }, ...badges.map((b) => h("li", { class: "tag",
          title: when(b.earnedAt) }, b.name)))
        : h("p", { class: "muted" }, t("lvl.noBadges"))));
}

function card(id, label, value) {
  return h("div", { class: "kpi card" }, h("div", { class: "kpi-label", id: `${id}-label` }, label),
    h("div", { class: "kpi-value", "data-testid": id, "data-value": value,
      "aria-labelledby": `${id}-label` }, num(value)));
}

function ledgerTable(rows, ctx, main, id) {
  const canReverse = ctx.may("Mutation.transactionReverse");
  // A transaction moves several wallets at once (an approval: pending out, available in);
  // it is reversed as a whole, so one button, on its first entry.
  const seen = new Set();
  const firsts = new Set(rows.filter((e) => !seen.has(e.transaction.id)
    && seen.add(e.transaction.id)));
  return table([
    { title: t("led.when"), cell: (e) => when(e.createdAt) },
    { title: t("led.amount"), num: true, cell: (e) => h("span",
      { class: e.amount < 0 ? "neg" : "pos" }, (e.amount > 0 ? "+" : "") + num(e.amount)) },
    { title: t("led.wallet"), cell: (e) => t(`wallet.${e.accountKind}`) },
    { title: t("led.balance"), num: true, cell: (e) => num(e.balanceAfter) },
    { title: t("led.why"), cell: (e) => h("span", { class: "why" }, e.transaction.why,
      e.transaction.reversedBy ? h("span", { class: "tag" }, t("led.reversed")) : null) },
    { title: t("led.rule"), cell: (e) => (e.transaction.campaign
      ? `${e.transaction.campaign} v${e.transaction.campaignVersion}:${e.transaction.ruleLine ?? "—"}`
      : "—") },
    ...(canReverse ? [{ title: t("led.actions"), cell: (e) => (
      !firsts.has(e) || e.transaction.reversedBy || e.transaction.reverses ? ""
        : h("button", { type: "button", class: "small",
          "aria-label": t("led.reverseThis", { id: e.transaction.id }),
          onclick: () => reverse(e.transaction, main, ctx, id) }, t("led.reverse"))) }] : []),
  ], rows, { empty: t("led.none"), class: "grid ledger" });
}

function adjustForm(ctx, main, id) {
  const points = h("input", { type: "number", name: "points", step: 1, required: true });
  const reason = h("input", { type: "text", name: "reason", required: true, maxlength: 500 });
  const status = h("p", { class: "status", role: "status" });
  let key = crypto.randomUUID();
  const form = h("form", { class: "stack", "aria-labelledby": "adjust-title" },
    h("h2", { id: "adjust-title" }, t("adj.title")),
    h("p", { class: "muted" }, t("adj.intro")),
    field(t("adj.points"), points), field(t("adj.reason"), reason),
    h("button", { type: "submit", class: "primary" }, t("adj.submit")), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.className = "status";
    status.textContent = "…";
    try {
      const p = await mutate(ADJUST, { input: { memberId: id, points: Number(points.value),
        reason: reason.value, idempotencyKey: `console-${key}` } });
      if (p.userErrors.length) {
        status.className = "status error";
        status.textContent = p.userErrors.map((u) => u.message).join("; ");
        return;
      }
      key = crypto.randomUUID();
      if (p.request) {
        status.textContent = t("adj.pending", { id: p.request.id });
      } else {
        await profile(main, ctx, id);
        main.querySelector(".status").textContent = t("adj.done", { id: p.transaction.id });
      }
    } catch (exc) {
      status.className = "status error";
      status.textContent = exc.message; // the same key makes a retry safe
    }
  });
  return h("section", { class: "panel card" }, form);
}

function reverse(txn, main, ctx, id) {
  const reason = h("input", { type: "text", name: "reason", required: true, maxlength: 500 });
  const status = h("p", { class: "status", role: "status" });
  const dialog = h("dialog", { class: "card", "aria-labelledby": "reverse-title" });
  const form = h("form", { class: "stack" },
    h("h2", { id: "reverse-title" }, t("rev.title", { id: txn.id })),
    h("p", {}, txn.why),
    field(t("rev.reason"), reason),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "danger" }, t("rev.confirm")),
      h("button", { type: "button", onclick: () => dialog.close() }, t("common.cancel"))),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = await mutate(REVERSE, { input: { transactionId: txn.id, reason: reason.value } });
    if (p.userErrors.length) {
      status.className = "status error";
      status.textContent = p.userErrors.map((u) => u.message).join("; ");
      return;
    }
    dialog.close();
    await profile(main, ctx, id);
  });
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
}
