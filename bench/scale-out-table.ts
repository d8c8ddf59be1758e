/** The spread of one mode's samples, in milliseconds. */
export interface Spread {
  samples: number;
  min: number;
  p50: number;
  max: number;
}

/** Min, median (mean of the middle two for an even count) and max of a non-empty list. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError("no samples to summarize");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const p50 = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { samples: s.length, min: s[0], p50, max: s[s.length - 1] };
}

/** A duration for the table: milliseconds below a second, seconds above. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1_000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** One row of the table. */
export interface ModeRow {
  mode: string;
  spread: Spread;
}

/** The markdown table `mode | samples | min | p50 | max`. */
export function markdownTable(rows: readonly ModeRow[]): string {
  return [
    "| mode | samples | min | p50 | max |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) => `| ${r.mode} | ${r.spread.samples} | ${formatDuration(r.spread.min)} | ${formatDuration(r.spread.p50)} | ${formatDuration(r.spread.max)} |`,
    ),
  ].join("\n");
}

/** A ratio for the text: `×4,321` with thousands separators. */
export function formatRatio(r: number): string {
  return `×${Math.round(r).toLocaleString("en-US")}`;
}
