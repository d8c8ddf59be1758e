// How the console writes durations, sizes, times and job states.

import { h } from "./dom.js";

/** "850 ms", "2.70 s", "4 min 05 s", "1 h 02 min". */
export function duration(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(sec < 10 ? 2 : 1)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} min ${String(Math.round(sec % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** "4.0 MiB". */
export function bytes(n) {
  if (n === undefined || n === null || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A <time> showing the local time (and the date when not today), the full time as its title. */
export function time(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date().toDateString() === d.toDateString();
  const shown = today
    ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  return h("time", { datetime: d.toISOString(), title: d.toString() }, shown);
}

/** "12 s ago", "3 min ago". */
export function ago(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (!Number.isFinite(t)) return "";
  const sec = Math.max(0, Math.round((now - t) / 1000));
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  return `${Math.floor(sec / 3600)} h ago`;
}

/** The state as a badge: its name in words (colour only repeats it). */
export function stateBadge(state) {
  return h("span", { class: `badge state-${String(state).toLowerCase()}`, "data-state": state }, state);
}

/** A job id shortened for tables (the full id is in the link's accessible name and title). */
export function shortId(id) {
  return id.length > 14 ? `${id.slice(0, 10)}…${id.slice(-4)}` : id;
}

/** The phase a running job is in, with its transfer progress. */
export function progressText(progress) {
  if (!progress) return "";
  const { phase, bytesDone, bytesTotal } = progress;
  if (bytesTotal) return `${phase} ${Math.floor(((bytesDone ?? 0) / bytesTotal) * 100)} % of ${bytes(bytesTotal)}`;
  return phase;
}
