// The console's shell: sign-in, the navigation each role is allowed, and the router.

import { ApiError, gql, session } from "./api.js";
import { h, field, replace } from "./dom.js";
import { language, setLanguage, t } from "./i18n.js";
import { setLocale, setZone } from "./time.js";
import dashboard from "./screens/dashboard.js";
import members from "./screens/members.js";
import campaigns from "./screens/campaigns.js";
import reviews from "./screens/reviews.js";
import catalog from "./screens/catalog.js";

const SCREENS = [dashboard, members, campaigns, reviews, catalog];
const app = document.getElementById("app");
let ctx = null;

const WHO = `{ viewer { role name may } }`;
const PROGRAM = `{ program { name timezone pointsExpireDays now } }`;

function allowedScreens(may) {
  return SCREENS.filter((screen) => screen.allowed((op) => may.has(op)));
}

async function signIn(key) {
  session.key = key;
  const { viewer } = await gql(WHO);
  if (viewer.role === "member") {
    session.key = null;
    throw new ApiError("FORBIDDEN", t("signin.member"));
  }
  const may = new Set(viewer.may);
  const screens = allowedScreens(may);
  if (!screens.length || !may.has("Query.program")) {
    session.key = null;
    throw new ApiError("FORBIDDEN", t("signin.noScreens", { role: viewer.role }));
  }
  const { program } = await gql(PROGRAM);
  setZone(program.timezone);
  ctx = {
    viewer, program, screens,
    may: (op) => may.has(op),
  };
}

function signOut() {
  session.key = null;
  ctx = null;
  location.hash = "";
  render();
}

function signInPage(message) {
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true,
    spellcheck: false, placeholder: "jf_…" });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "signin card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, t("signin.title")),
    h("p", {}, t("signin.intro")),
    field(t("signin.key"), key, t("signin.keyHint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" },
      t("signin.submit")), languagePicker()),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await signIn(key.value.trim());
      render();
    } catch (exc) {
      session.key = null;
      error.textContent = exc.code === "UNAUTHENTICATED" ? t("signin.refused", { reason: exc.message })
        : exc.message;
    }
  });
  replace(app, h("main", { class: "signin-page" }, form));
  key.focus();
}

function languagePicker() {
  const select = h("select", { class: "language", "aria-label": t("shell.language") },
    h("option", { value: "en", selected: language() === "en" }, "English"),
    h("option", { value: "zh", selected: language() === "zh" }, "中文"));
  select.addEventListener("change", () => {
    setLanguage(select.value);
    setLocale(select.value);
    render();
  });
  return select;
}

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const screen = ctx.screens.find((s) => s.id === name) || ctx.screens[0];
  return { screen, params: rest.map(decodeURIComponent) };
}

function shell() {
  const { screen, params } = route();
  const nav = h("nav", { class: "side", "aria-label": t("shell.nav") },
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }, "积"),
      h("span", {}, "jifen")),
    h("ul", {}, ctx.screens.map((s) => h("li", {}, h("a", {
      href: `#/${s.id}`, class: s === screen ? "active" : null,
      "aria-current": s === screen ? "page" : null, "data-screen": s.id,
    }, t(`nav.${s.id}`))))));
  const top = h("header", { class: "top" },
    h("div", { class: "program" }, h("strong", {}, ctx.program.name),
      h("span", { class: "muted" }, ` · ${ctx.program.timezone}`)),
    h("div", { class: "who" },
      h("span", { class: `role role-${ctx.viewer.role}`, "data-testid": "role" },
        t(`role.${ctx.viewer.role}`)),
      h("span", { class: "muted" }, ctx.viewer.name),
      languagePicker(),
      h("button", { type: "button", class: "link", onclick: signOut }, t("shell.signOut"))));
  const main = h("main", { id: "main", tabindex: "-1", "data-screen": screen.id });
  const skip = h("a", { href: "#main", class: "skip", onclick: (e) => {
    e.preventDefault(); main.focus();
  } }, t("shell.skip"));
  replace(app, skip, h("div", { class: "layout" }, nav, h("div", { class: "content" }, top, main)));
  document.title = `${t(`nav.${screen.id}`)} · jifen`;
  screen.render(main, { ...ctx, params, navigate: (hash) => { location.hash = hash; } })
    .catch((exc) => replace(main, h("p", { class: "error", role: "alert" },
      `${exc.code || ""} ${exc.message}`)));
}

function render() {
  document.documentElement.lang = language() === "zh" ? "zh-CN" : "en";
  if (!ctx) signInPage();
  else shell();
}

window.addEventListener("hashchange", () => { if (ctx) render(); });

async function start() {
  setLocale(language());
  if (session.key) {
    try {
      await signIn(session.key);
    } catch (exc) {
      session.key = null;
      signInPage(exc.message);
      return;
    }
  }
  render();
}

start();
