// Small SVG charts drawn here: grouped bars over periods, a line, horizontal bars.
// Each has a text title per mark (shown on hover, read by screen readers).

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(c));
  return el;
}

function niceStep(span) {
  const raw = Math.max(span, 1) / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return Math.max(1, m * power);
  return 10 * power;
}

// An axis from a round number below the values to one above, in four or five round steps.
function scale(values) {
  const lo = Math.min(0, ...values), hi = Math.max(1, ...values);
  const step = niceStep(hi - lo);
  return { min: Math.floor(lo / step) * step, max: Math.ceil(hi / step) * step, step };
}

function axis(svg, { left, top, width, height, min, max, step, fmt }) {
  for (let v = min; v <= max + step / 2; v += step) {
    const y = top + height - ((v - min) / (max - min)) * height;
    svg.append(s("line", { x1: left, x2: left + width, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: left - 6, y: y + 4, class: "tick", "text-anchor": "end" }, fmt(v)));
  }
}

function legend(series) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  for (const item of series) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${item.cls}`;
    li.append(swatch, item.name);
    ul.append(li);
  }
  return ul;
}

// labels: x labels; series: [{name, cls, values}] drawn side by side per label.
export function barChart({ title, labels, series, fmt = String, height = 220, width = 720 }) {
  const left = 56, top = 12, bottom = 28, right = 8;
  const plotW = width - left - right, plotH = height - top - bottom;
  const { min, max, step } = scale(series.flatMap((x) => x.values));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    "aria-label": title });
  svg.append(s("title", {}, title));
  axis(svg, { left, top, width: plotW, height: plotH, min, max, step, fmt });
  const band = plotW / Math.max(labels.length, 1);
  const barW = Math.max(1, Math.min(18, (band * 0.8) / series.length));
  const zeroY = top + plotH - ((0 - min) / (max - min)) * plotH;
  const every = Math.ceil(labels.length / Math.max(2, Math.floor(plotW / 56)));
  labels.forEach((label, i) => {
    const x0 = left + band * i + (band - barW * series.length) / 2;
    series.forEach((item, j) => {
      const v = item.values[i] || 0;
      const y = top + plotH - ((v - min) / (max - min)) * plotH;
      const rect = s("rect", { x: x0 + j * barW, y: Math.min(y, zeroY), width: barW,
        height: Math.max(Math.abs(zeroY - y), v ? 1 : 0), class: item.cls });
      rect.append(s("title", {}, `${label} · ${item.name}: ${fmt(v)}`));
      svg.append(rect);
    });
    if (i % every === 0) {
      svg.append(s("text", { x: left + band * i + band / 2, y: height - 8, class: "tick",
        "text-anchor": "middle" }, label));
    }
  });
  const figure = document.createElement("figure");
  figure.className = "figure";
  figure.append(svg, legend(series));
  return figure;
}

export function lineChart({ title, labels, values, name, cls = "s-outstanding", fmt = String,
  width = 720 }) {
  const height = 180, left = 56, top = 12, bottom = 28, right = 8;
  const plotW = width - left - right, plotH = height - top - bottom;
  const { min, max, step: tick } = scale(values);
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    "aria-label": title });
  svg.append(s("title", {}, title));
  axis(svg, { left, top, width: plotW, height: plotH, min, max, step: tick, fmt });
  const step = labels.length > 1 ? plotW / (labels.length - 1) : 0;
  const pts = values.map((v, i) => [left + step * i,
    top + plotH - ((v - min) / (max - min)) * plotH]);
  svg.append(s("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: `line ${cls}` }));
  const every = Math.ceil(labels.length / Math.max(2, Math.floor(plotW / 56)));
  pts.forEach(([x, y], i) => {
    const dot = s("circle", { cx: x, cy: y, r: 3, class: cls });
    dot.append(s("title", {}, `${labels[i]} · ${name}: ${fmt(values[i])}`));
    svg.append(dot);
    if (i % every === 0) {
      svg.append(s("text", { x, y: height - 8, class: "tick", "text-anchor": "middle" },
        labels[i]));
    }
  });
  const figure = document.createElement("figure");
  figure.className = "figure";
  figure.append(svg, legend([{ name, cls }]));
  return figure;
}

// rows: [{label, value}], one horizontal bar each.
export function hBars({ title, rows, fmt = String, cls = "s-issued", width = 720 }) {
  const rowH = 26, left = Math.min(180, Math.max(110, width * 0.4)), right = 70;
  const height = Math.max(rowH * rows.length + 8, 40);
  const { max } = scale(rows.map((r) => Math.abs(r.value)));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart",
    "aria-label": title });
  svg.append(s("title", {}, title));
  rows.forEach((row, i) => {
    const y = 4 + i * rowH;
    const w = (Math.abs(row.value) / max) * (width - left - right);
    const room = Math.floor((left - 12) / 6.5); // characters that fit left of the bar
    svg.append(s("text", { x: left - 8, y: y + 17, class: "tick", "text-anchor": "end" },
      row.label.length > room ? row.label.slice(0, room - 1) + "…" : row.label));
    const rect = s("rect", { x: left, y: y + 4, width: Math.max(w, row.value ? 1 : 0),
      height: rowH - 8, class: cls });
    rect.append(s("title", {}, `${row.label}: ${fmt(row.value)}`));
    svg.append(rect);
    svg.append(s("text", { x: left + w + 6, y: y + 17, class: "tick" }, fmt(row.value)));
  });
  const figure = document.createElement("figure");
  figure.className = "figure";
  figure.append(svg);
  return figure;
}

// A chart drawn at its container's width (in CSS pixels, so its text keeps its size), and
// drawn again when that width changes.
export function responsive(draw, { min = 260 } = {}) {
  const box = document.createElement("div");
  box.className = "chart-box";
  let drawn = 0;
  new ResizeObserver(() => {
    const width = Math.max(min, Math.floor(box.clientWidth));
    if (Math.abs(width - drawn) < 4) return;
    drawn = width;
    box.replaceChildren(draw(width));
  }).observe(box);
  return box;
}
