import type { Problem } from "../core/errors.ts";

/** The header that makes a retried submit return the first job instead of a second one. */
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** Set on a submit answer that returns an existing job for a reused key. */
export const REPLAYED_HEADER = "Idempotent-Replayed";

/** Longest key accepted; a UUID (36) or a ULID (26) fits many times over. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const KEY_CHARS = /^[A-Za-z0-9._:+=/-]+$/;

/**
 * Checks an Idempotency-Key header value: absent is fine (undefined), otherwise 1 to 255
 * characters of letters, digits and `. _ : + = / -` (UUIDs, ULIDs, base64 all fit).
 */
export function parseIdempotencyKey(value: string | null | undefined): { ok: true; key?: string } | { ok: false; problem: Problem } {
  if (value === null || value === undefined) return { ok: true };
  const fail = (reason: string) => ({ ok: false as const, problem: { field: IDEMPOTENCY_HEADER, reason } });
  if (value.length === 0) return fail("must not be empty; omit the header or send a key such as a UUID");
  if (value.length > MAX_IDEMPOTENCY_KEY_LENGTH) return fail(`must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters, got ${value.length}`);
  if (!KEY_CHARS.test(value)) return fail("may hold only letters, digits and . _ : + = / - (a UUID is a good key)");
  return { ok: true, key: value };
}

/**
 * True when two job requests are the same request: same keys and values, whatever the key order
 * (the stored copy comes back from the table with its own order).
 */
export function sameRequest(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
