/**
 * The request plan of a folder transfer: which requests (whole objects, byte ranges, multipart
 * parts) move which bytes, and in what order they start. Pure, so the order can be tested without S3.
 */

/** S3's largest part count of a multipart upload. */
export const S3_MAX_PARTS = 10_000;

/** One request's worth of work: a whole object, or one byte range / part of a large one. */
export interface TransferUnit {
  /** Index of the file in the caller's list. */
  file: number;
  start: number;
  /** Bytes in this unit. */
  length: number;
  /** 1-based part number for a range or part, 0 for a whole object. */
  part: number;
}

/** Part size for an object: the configured one, grown when S3's 10,000-part limit requires. */
export function partSizeFor(size: number, configured: number): number {
  return Math.max(configured, Math.ceil(size / S3_MAX_PARTS));
}

/** Requests a file of `size` bytes takes: 1 up to `configured` bytes, its part count above. */
export function unitCount(size: number, configured: number): number {
  return size > configured ? Math.ceil(size / partSizeFor(size, configured)) : 1;
}

/** The units of some files: whole objects up to `configured` bytes, parts of that size above it. */
export function splitIntoUnits(sizes: readonly number[], configured: number): TransferUnit[] {
  const units: TransferUnit[] = [];
  sizes.forEach((size, file) => {
    if (size <= configured) {
      units.push({ file, start: 0, length: size, part: 0 });
      return;
    }
    const part = partSizeFor(size, configured);
    for (let i = 0, start = 0; start < size; i++, start += part) units.push({ file, start, length: Math.min(part, size - start), part: i + 1 });
  });
  return units;
}

/**
 * The order units start in. Bulk units (ranges and parts, and whole objects of at least
 * `smallBelow` bytes) go largest first, so the long ones start early and the last to start are
 * short (no lone large transfer at the end). Small whole objects are bound by the per-request
 * latency rather than by bandwidth, so they are spread evenly among the bulk units, smallest towards
 * the end: their wait for a first byte overlaps with other requests moving bytes, instead of all of
 * them waiting together at the end, when nothing else is left to move. Ranges of a file keep their
 * order. Deterministic.
 */
export function orderUnits(units: readonly TransferUnit[], smallBelow: number): TransferUnit[] {
  const bySizeDesc = (a: TransferUnit, b: TransferUnit) => b.length - a.length || a.file - b.file || a.part - b.part;
  const isSmall = (u: TransferUnit) => u.part === 0 && u.length < smallBelow;
  const bulk = units.filter((u) => !isSmall(u)).sort(bySizeDesc);
  const small = units.filter(isSmall).sort(bySizeDesc);
  if (bulk.length === 0 || small.length === 0) return [...bulk, ...small];
  // Merge by relative position: small unit j lands where bulk unit j·(bulk/small) does.
  const out: TransferUnit[] = [];
  let b = 0;
  let s = 0;
  while (b < bulk.length || s < small.length) {
    const nextBulk = b < bulk.length ? b / bulk.length : Infinity;
    const nextSmall = s < small.length ? (s + 0.5) / small.length : Infinity;
    if (nextBulk <= nextSmall) out.push(bulk[b++]!);
    else out.push(small[s++]!);
  }
  return out;
}
