// Building the page from data: every text goes in as text (never as HTML), so a member's
// display name or a rule's text can never become markup or script.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled control: the label names it for screen readers and for the tests alike.
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control,
    hint ? h("span", { class: "hint" }, hint) : null);
}

export function table(columns, rows, opts = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) =>
    h("th", { scope: "col", class: c.num ? "num" : null }, c.title))));
  const body = h("tbody", {}, rows.map((row) => h("tr", opts.rowAttrs ? opts.rowAttrs(row) : {},
    columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row))))));
  const t = h("table", { class: opts.class || "grid" },
    opts.caption ? h("caption", {}, opts.caption) : null, head, body);
  if (!rows.length && opts.empty) {
    body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, opts.empty)));
  }
  return h("div", { class: "table-wrap" }, t);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
