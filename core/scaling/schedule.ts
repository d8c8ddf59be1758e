/**
 * Scheduled capacity (`scaling.schedule`): cron entries that set the group's min, max and desired
 * capacity, as Auto Scaling's scheduled actions do (infra synthesizes `aws_autoscaling_schedule`).
 *
 * The recurrence is Unix cron, five fields: minute hour day-of-month month day-of-week, with `*`,
 * lists, ranges, steps and the names JAN–DEC / SUN–SAT; day-of-week 0 and 7 are Sunday; when both
 * day fields are restricted either may match (cron's rule). Times are wall-clock times in the
 * entry's IANA time zone (Auto Scaling's `TimeZone`, default Etc/UTC), daylight saving included:
 * a wall time that does not exist that day (spring forward) does not fire.
 */

export interface ScheduleEntry {
  /** The scheduled action's name (the config key). */
  name: string;
  recurrence: string;
  /** @default "Etc/UTC" */
  timeZone?: string;
  minSize?: number;
  maxSize?: number;
  desiredCapacity?: number;
}

export interface ScheduledAction {
  at: number;
  entry: ScheduleEntry;
}

export interface CronSpec {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday. */
  daysOfWeek: ReadonlySet<number>;
  domRestricted: boolean;
  dowRestricted: boolean;
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

function field(text: string, what: string, min: number, max: number, names?: string[]): { values: Set<number>; restricted: boolean } {
  const values = new Set<number>();
  const value = (s: string): number => {
    const upper = s.toUpperCase();
    const named = names?.indexOf(upper) ?? -1;
    if (named >= 0) return named + (what === "month" ? 1 : 0);
    if (!/^\d+$/.test(s)) throw new Error(`${what} "${s}" is not a number${names ? ` or a name (${names[0]}…)` : ""}`);
    const n = Number(s);
    if (n < min || n > max) throw new Error(`${what} ${n} is outside ${min}-${max}`);
    return n;
  };
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/");
    if (range === undefined || range === "" || part.split("/").length > 2) throw new Error(`${what} "${text}" is not cron syntax`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`${what} step "${stepText}" must be a whole number >= 1`);
    let lo: number;
    let hi: number;
    if (range === "*") [lo, hi] = [min, max];
    else if (range.includes("-")) {
      const [a, b] = range.split("-");
      lo = value(a!);
      hi = value(b!);
      if (hi < lo) throw new Error(`${what} range "${range}" runs backwards`);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  // Vixie cron: a day field starting with "*" does not restrict (matters for the day-of-month OR day-of-week rule).
  return { values, restricted: !text.startsWith("*") };
}

/** Parses a five-field cron recurrence; throws an Error saying which field is wrong. */
export function parseCron(expression: string): CronSpec {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`"${expression}" has ${parts.length} fields; a recurrence has 5: minute hour day-of-month month day-of-week`);
  const [mi, h, dom, mon, dow] = parts as [string, string, string, string, string];
  const minutes = field(mi, "minute", 0, 59);
  const hours = field(h, "hour", 0, 23);
  const daysOfMonth = field(dom, "day-of-month", 1, 31);
  const months = field(mon, "month", 1, 12, MONTHS);
  const dowField = field(dow, "day-of-week", 0, 7, DAYS);
  const daysOfWeek = new Set([...dowField.values].map((d) => d % 7));
  return {
    minutes: minutes.values,
    hours: hours.values,
    daysOfMonth: daysOfMonth.values,
    months: months.values,
    daysOfWeek,
    domRestricted: daysOfMonth.restricted,
    dowRestricted: dowField.restricted,
  };
}

/** The problem with a recurrence, or undefined when it parses. */
export function cronProblem(expression: string): string | undefined {
  try {
    parseCron(expression);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** True when `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock fields of `ms` in `tz`. */
export function wallClock(ms: number, tz: string): { year: number; month: number; day: number; hour: number; minute: number; weekday: number } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", weekday: "short" });
    formatters.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour),
    minute: Number(p.minute),
    weekday: DAYS.indexOf(String(p.weekday).toUpperCase().slice(0, 3)),
  };
}

/** The UTC time of a wall-clock time in `tz`, or undefined when that wall time does not exist there. */
export function fromWallClock(tz: string, year: number, month: number, day: number, hour: number, minute: number): number | undefined {
  const naive = Date.UTC(year, month - 1, day, hour, minute);
  // Two passes settle the offset across a DST change.
  let utc = naive;
  for (let i = 0; i < 2; i++) {
    const w = wallClock(utc, tz);
    const shown = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
    utc -= shown - naive;
  }
  const w = wallClock(utc, tz);
  if (w.year !== year || w.month !== month || w.day !== day || w.hour !== hour || w.minute !== minute) return undefined;
  return utc;
}

function dayMatches(c: CronSpec, month: number, day: number, weekday: number): boolean {
  if (!c.months.has(month)) return false;
  const dom = c.daysOfMonth.has(day);
  const dow = c.daysOfWeek.has(weekday);
  if (c.domRestricted && c.dowRestricted) return dom || dow;
  if (c.domRestricted) return dom;
  if (c.dowRestricted) return dow;
  return true;
}

/** Every time in [fromMs, toMs) at which the recurrence fires, ascending. */
export function occurrences(recurrence: string | CronSpec, timeZone: string, fromMs: number, toMs: number): number[] {
  const c = typeof recurrence === "string" ? parseCron(recurrence) : recurrence;
  const out: number[] = [];
  const start = wallClock(fromMs, timeZone);
  // Walk calendar days in the zone (a day of margin on each side for offsets).
  let cursor = Date.UTC(start.year, start.month - 1, start.day) - 86_400_000;
  const hours = [...c.hours].sort((a, b) => a - b);
  const minutes = [...c.minutes].sort((a, b) => a - b);
  while (cursor < toMs + 86_400_000) {
    const d = new Date(cursor);
    const [y, m, day, wd] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCDay()];
    if (dayMatches(c, m, day, wd))
      for (const h of hours)
        for (const mi of minutes) {
          const at = fromWallClock(timeZone, y, m, day, h, mi);
          if (at !== undefined && at >= fromMs && at < toMs) out.push(at);
        }
    cursor += 86_400_000;
  }
  return out.sort((a, b) => a - b);
}

/** Every scheduled action of `entries` in [fromMs, toMs), in time order (ties in entry order). */
export function scheduledActions(entries: readonly ScheduleEntry[], fromMs: number, toMs: number): ScheduledAction[] {
  const all = entries.flatMap((entry, i) => occurrences(entry.recurrence, entry.timeZone ?? "Etc/UTC", fromMs, toMs).map((at) => ({ at, entry, i })));
  return all.sort((a, b) => a.at - b.at || a.i - b.i).map(({ at, entry }) => ({ at, entry }));
}

/**
 * The group's sizes after a scheduled action, as Auto Scaling applies one: the given sizes replace
 * the old ones; desired capacity is then kept within the new min and max.
 */
export function applyScheduledAction(
  group: { minSize: number; maxSize: number; desiredCapacity: number },
  entry: Pick<ScheduleEntry, "minSize" | "maxSize" | "desiredCapacity">,
): { minSize: number; maxSize: number; desiredCapacity: number } {
  const minSize = entry.minSize ?? group.minSize;
  const maxSize = entry.maxSize ?? group.maxSize;
  const desired = entry.desiredCapacity ?? group.desiredCapacity;
  return { minSize, maxSize, desiredCapacity: Math.min(maxSize, Math.max(minSize, desired)) };
}
