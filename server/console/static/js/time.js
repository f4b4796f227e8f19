// Days as the program counts them: calendar days in the program's time zone, whatever the
// browser's own zone is.

let zone = "UTC";
let locale = "en";

export function setZone(name) { zone = name; }
export function setLocale(name) { locale = name === "zh" ? "zh-CN" : "en-GB"; }
export function programZone() { return zone; }

function offsetMinutes(instantMs) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(instantMs));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"),
    get("second"));
  return Math.round((asUtc - Math.floor(instantMs / 1000) * 1000) / 60000);
}

// The instant (ISO 8601, UTC) at which `day` (YYYY-MM-DD) begins in the program's zone.
export function dayStart(day) {
  const [y, m, d] = day.split("-").map(Number);
  const wall = Date.UTC(y, m - 1, d);
  let at = wall - offsetMinutes(wall) * 60000;
  at = wall - offsetMinutes(at) * 60000; // once more, across a change of offset
  return new Date(at).toISOString();
}

// The program's calendar day of an instant, as YYYY-MM-DD.
export function dayOf(instant) {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
  }).format(new Date(instant));
  return parts;
}

export function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

export function when(instant) {
  if (!instant) return "";
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23",
  }).format(new Date(instant));
}

export function num(n) {
  if (n === null || n === undefined) return "—";
  return Number(n).toLocaleString(locale);
}
