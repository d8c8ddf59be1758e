import assert from "node:assert/strict";
import fc from "fast-check";
import { orderUnits, partSizeFor, splitIntoUnits, unitCount, type TransferUnit } from "../../../worker/transfer-plan.ts";

const MiB = 1024 * 1024;
const SEED = Number(process.env.TRANSFER_PLAN_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe("worker/transfer-plan: the requests of a folder transfer and their order", () => {
  before(() => console.log(`      (random plans: seed ${SEED}; replay with TRANSFER_PLAN_SEED=${SEED})`));

  it("splits a file above the range size into ranges that cover it exactly, and keeps smaller files whole", () => {
    const units = splitIntoUnits([20 * MiB + 1, 3, 16 * MiB], 8 * MiB);
    assert.deepEqual(
      units.map((u) => [u.file, u.part, u.start, u.length]),
      [
        [0, 1, 0, 8 * MiB],
        [0, 2, 8 * MiB, 8 * MiB],
        [0, 3, 16 * MiB, 4 * MiB + 1],
        [1, 0, 0, 3],
        [2, 1, 0, 8 * MiB],
        [2, 2, 8 * MiB, 8 * MiB],
      ],
    );
    assert.equal(unitCount(20 * MiB + 1, 8 * MiB), 3);
    assert.equal(unitCount(8 * MiB, 8 * MiB), 1);
  });

  it("grows the part size so that no file needs more than S3's 10,000 parts", () => {
    const size = 200_000 * MiB;
    assert.equal(partSizeFor(size, 8 * MiB), Math.ceil(size / 10_000));
    assert.equal(unitCount(size, 8 * MiB), 10_000);
  });

  it("starts the large requests first and spreads the small, latency-bound ones among them, not all at the end", () => {
    // Two 64 MiB files in 16 MiB ranges (8 bulk units) and 8 small files of 100 KiB.
    const sizes = [64 * MiB, 64 * MiB, ...Array.from({ length: 8 }, () => 100 * 1024)];
    const order = orderUnits(splitIntoUnits(sizes, 16 * MiB), MiB);
    const kinds = order.map((u) => (u.length >= MiB ? "B" : "s")).join("");
    assert.equal(kinds[0], "B", "a large request starts first");
    assert.ok(!kinds.startsWith("BBBBBBBB"), `small requests wait for all large ones: ${kinds}`);
    assert.ok(!/s{3}/.test(kinds), `small requests bunch together: ${kinds}`);
    // Largest first: the order among the large requests never increases in size.
    const bulk = order.filter((u) => u.length >= MiB).map((u) => u.length);
    assert.deepEqual(bulk, [...bulk].sort((a, b) => b - a));
  });

  it("orders every unit exactly once, ranges of a file in their order, large units by size (random plans)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 80 * MiB }), { minLength: 1, maxLength: 60 }), fc.constantFrom(8 * MiB, 16 * MiB), (sizes, range) => {
        const units = splitIntoUnits(sizes, range);
        const order = orderUnits(units, MiB);
        const key = (u: TransferUnit) => `${u.file}:${u.part}:${u.start}:${u.length}`;
        assert.deepEqual(order.map(key).sort(), units.map(key).sort());
        for (let f = 0; f < sizes.length; f++) {
          const parts = order.filter((u) => u.file === f).map((u) => u.part);
          assert.deepEqual(parts, [...parts].sort((a, b) => a - b), `ranges of file ${f} out of order`);
        }
        const bulk = order.filter((u) => u.part > 0 || u.length >= MiB).map((u) => u.length);
        assert.deepEqual(bulk, [...bulk].sort((a, b) => b - a));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
