// The review queues: awards made `after review`, task submissions with their proof, and
// large adjustments waiting for a second operator. Approve or reject, with a reason.

import { gql, mutate } from "../api.js";
import { h, replace, table } from "../dom.js";
import { t } from "../i18n.js";
import { num, when } from "../time.js";

const WHO = "member { id externalId displayName }";
const AWARDS = `{ reviewQueue(first: 50) { edges { node {
  transactionId campaign points createdAt ${WHO} transaction { why }
} } } }`;
const SUBMISSIONS = `{ submissions(first: 50) { edges { node {
  id proof links createdAt task { key title } ${WHO}
} } } }`;
const ADJUSTMENTS = `{ adjustmentRequests(first: 50) { edges { node {
  id points reason requestedBy requestedAt ${WHO}
} } } }`;
const AWARD_REVIEW = `mutation Review($input: AwardReviewInput!) {
  awardReview(input: $input) { review { status points } userErrors { code message } }
}`;
const SUBMISSION_REVIEW = `mutation Review($input: SubmissionReviewInput!) {
  submissionReview(input: $input) { submission { status } userErrors { code message } }
}`;
const ADJUSTMENT_REVIEW = `mutation Review($id: ID!, $decision: Decision!) {
  adjustmentReview(requestId: $id, decision: $decision) {
    request { status } userErrors { code message }
  }
}`;

export default {
  id: "reviews",
  allowed: (may) => may("Query.reviewQueue"),
  async render(main, ctx) {
    const status = h("p", { class: "status", role: "status", "data-testid": "review-status" });
    const sections = h("div", { class: "queues" });
    const load = async () => {
      const parts = [];
      if (ctx.may("Query.reviewQueue")) parts.push(awards(ctx, status, load));
      if (ctx.may("Query.submissions")) parts.push(submissions(ctx, status, load));
      if (ctx.may("Query.adjustmentRequests")) parts.push(adjustments(ctx, status, load));
      replace(sections, await Promise.all(parts));
    };
    replace(main, h("h1", {}, t("nav.reviews")), status, sections);
    await load();
  },
};

function who(ctx, m) {
  const name = m.displayName ? `${m.displayName} (${m.externalId})` : m.externalId;
  return ctx.screens.some((s) => s.id === "members")
    ? h("a", { href: `#/members/${m.id}` }, name) : name;
}

// A reason box and the two decisions, for one row of a queue.
function decide(label, onDecide, withNote = true) {
  const note = withNote ? h("input", { type: "text", maxlength: 500, class: "note",
    "aria-label": t("rv.reasonFor", { what: label }), placeholder: t("rv.reason") }) : null;
  const act = (decision) => async (e) => {
    e.target.disabled = true;
    try { await onDecide(decision, note ? note.value || null : null); }
    finally { e.target.disabled = false; }
  };
  return h("div", { class: "decide" }, note,
    h("button", { type: "button", class: "small primary", onclick: act("APPROVE"),
      "aria-label": t("rv.approveThis", { what: label }) }, t("rv.approve")),
    h("button", { type: "button", class: "small danger", onclick: act("REJECT"),
      "aria-label": t("rv.rejectThis", { what: label }) }, t("rv.reject")));
}

function report(status, payload, done) {
  if (payload.userErrors.length) {
    status.className = "status error";
    status.textContent = payload.userErrors.map((u) => u.message).join("; ");
    return false;
  }
  status.className = "status ok";
  status.textContent = done;
  return true;
}

async function awards(ctx, status, reload) {
  const { reviewQueue } = await gql(AWARDS);
  const rows = reviewQueue.edges.map((e) => e.node);
  return h("section", { class: "panel card", "data-queue": "awards" },
    h("h2", {}, t("rv.awards"), " ", h("span", { class: "count" }, rows.length)),
    table([
      { title: t("rv.member"), cell: (r) => who(ctx, r.member) },
      { title: t("camp.key"), cell: (r) => r.campaign },
      { title: t("rv.points"), num: true, cell: (r) => num(r.points) },
      { title: t("rv.why"), cell: (r) => r.transaction.why },
      { title: t("rv.since"), cell: (r) => when(r.createdAt) },
      { title: t("rv.decision"), cell: (r) => decide(`${r.member.externalId} ${r.campaign}`,
        async (decision, note) => {
          const p = await mutate(AWARD_REVIEW, { input: { transactionId: r.transactionId,
            decision, note } });
          if (report(status, p, t(`rv.done.${decision}`, { points: r.points,
            who: r.member.externalId }))) await reload();
        }) },
    ], rows, { empty: t("rv.empty"), rowAttrs: (r) => ({ "data-id": r.transactionId }) }));
}

async function submissions(ctx, status, reload) {
  const { submissions: found } = await gql(SUBMISSIONS);
  const rows = found.edges.map((e) => e.node);
  const canDecide = ctx.may("Mutation.submissionReview");
  return h("section", { class: "panel card", "data-queue": "submissions" },
    h("h2", {}, t("rv.submissions"), " ", h("span", { class: "count" }, rows.length)),
    table([
      { title: t("rv.member"), cell: (r) => who(ctx, r.member) },
      { title: t("rv.task"), cell: (r) => r.task.title },
      { title: t("rv.proof"), cell: (r) => h("div", { class: "proof" }, r.proof,
        r.links.map((link) => h("div", {}, h("a", { href: link, rel: "noopener noreferrer",
          target: "_blank" }, link)))) },
      { title: t("rv.since"), cell: (r) => when(r.createdAt) },
      ...(canDecide ? [{ title: t("rv.decision"), cell: (r) => decide(
        `${r.member.externalId} ${r.task.title}`, async (decision, note) => {
          const p = await mutate(SUBMISSION_REVIEW, { input: { submissionId: r.id, decision,
            note } });
          if (report(status, p, t(`rv.sub.${decision}`, { who: r.member.externalId }))) {
            await reload();
          }
        }) }] : []),
    ], rows, { empty: t("rv.empty"), rowAttrs: (r) => ({ "data-id": r.id }) }));
}

async function adjustments(ctx, status, reload) {
  const { adjustmentRequests } = await gql(ADJUSTMENTS);
  const rows = adjustmentRequests.edges.map((e) => e.node);
  return h("section", { class: "panel card", "data-queue": "adjustments" },
    h("h2", {}, t("rv.adjustments"), " ", h("span", { class: "count" }, rows.length)),
    table([
      { title: t("rv.member"), cell: (r) => who(ctx, r.member) },
      { title: t("rv.points"), num: true, cell: (r) => num(r.points) },
      { title: t("adj.reason"), cell: (r) => r.reason },
      { title: t("rv.requestedBy"), cell: (r) => r.requestedBy },
      { title: t("rv.since"), cell: (r) => when(r.requestedAt) },
      { title: t("rv.decision"), cell: (r) => decide(`${r.member.externalId} ${r.points}`,
        async (decision) => {
          const p = await mutate(ADJUSTMENT_REVIEW, { id: r.id, decision });
          if (report(status, p, t(`rv.adj.${decision}`, { who: r.member.externalId }))) {
            await reload();
          }
        }, false) },
    ], rows, { empty: t("rv.empty"), rowAttrs: (r) => ({ "data-id": r.id }) }));
}
