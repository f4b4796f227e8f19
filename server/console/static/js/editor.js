// A rule editor: a plain textarea with a gutter of line numbers, where each diagnostic is
// marked at its line, and a list of the diagnostics that moves the caret to each one.

import { h, replace, uid } from "./dom.js";
import { t } from "./i18n.js";

export function ruleEditor({ value = "", label, readOnly = false }) {
  const listId = uid("diagnostics");
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", {
    class: "code", wrap: "off", spellcheck: false, autocapitalize: "off", autocomplete: "off",
    "aria-label": label, "aria-describedby": listId, readOnly, name: "rules",
  });
  area.value = value;
  const list = h("ul", { class: "diagnostics", id: listId, "aria-live": "polite" });
  let marks = new Map();

  const drawGutter = () => {
    const count = area.value.split("\n").length;
    const lines = [];
    for (let n = 1; n <= count; n += 1) {
      const mark = marks.get(n);
      lines.push(h("div", { class: `ln ${mark ? mark.severity : ""}`, "data-line": n,
        title: mark ? mark.message : null }, String(n)));
    }
    replace(gutter, lines);
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener("input", drawGutter);
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });

  const goTo = (line, column) => {
    const rows = area.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < rows.length; i += 1) offset += rows[i].length + 1;
    offset += Math.max(0, column - 1);
    area.focus();
    area.setSelectionRange(offset, offset);
    const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
    area.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };

  const setDiagnostics = (diagnostics) => {
    marks = new Map();
    for (const d of diagnostics) {
      const had = marks.get(d.line);
      if (!had || (had.severity === "warning" && d.severity === "error")) marks.set(d.line, d);
    }
    drawGutter();
    replace(list, diagnostics.map((d) => h("li", { class: d.severity, "data-line": d.line },
      h("button", { type: "button", class: "link", onclick: () => goTo(d.line, d.column),
        "aria-label": t("ed.goTo", { line: d.line, column: d.column }) },
      `${d.line}:${d.column}`),
      h("span", { class: `sev ${d.severity}` }, t(`sev.${d.severity}`)),
      h("code", {}, d.code), " ", d.message)));
  };

  drawGutter();
  const el = h("div", { class: "editor" }, gutter, area);
  return {
    el, list, area, setDiagnostics, goTo,
    get value() { return area.value; },
    set value(text) { area.value = text; drawGutter(); },
  };
}
