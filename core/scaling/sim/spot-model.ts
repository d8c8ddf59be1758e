import { z } from "zod";
import { ValidationError } from "../../errors.ts";
import type { Rng } from "./rng.ts";

/** The Spot Instance Advisor's interruption-frequency bands. */
export const INTERRUPTION_BANDS = ["<5%", "5-10%", "10-15%", "15-20%", ">20%"] as const;
export type InterruptionBand = (typeof INTERRUPTION_BANDS)[number];

const BootSchema = z
  .strictObject({ minSeconds: z.number().min(0), medianSeconds: z.number().positive(), p95Seconds: z.number().positive() })
  .refine((b) => b.minSeconds < b.medianSeconds && b.medianSeconds < b.p95Seconds, "needs minSeconds < medianSeconds < p95Seconds");

/** The Spot model file (scripts/sim/spot-model.json documents every field and its source). */
export const SpotModelSchema = z.object({
  description: z.string().optional(),
  region: z.string(),
  asOf: z.string().optional(),
  sources: z.record(z.string(), z.string()).optional(),
  windowsLicencePerVcpuHour: z.number().min(0),
  ebsGp3PerGiBMonth: z.number().min(0).default(0),
  interruptionBands: z.record(z.enum(INTERRUPTION_BANDS), z.number().min(0).max(0.99)),
  metrics: z.object({
    sqsDelaySeconds: z.number().min(0),
    groupDelaySeconds: z.number().min(0),
    inactiveAfterSeconds: z.number().positive(),
    lateFirstDatapointSeconds: z.object({ min: z.number().min(0), max: z.number().min(0) }).refine((r) => r.min <= r.max, "min must not exceed max"),
  }),
  boot: z.object({ windows: BootSchema, linux: BootSchema }),
  instanceTypes: z.record(
    z.string(),
    z.object({
      vcpus: z.int().positive(),
      onDemandPerHour: z.number().positive(),
      spotPerHour: z.number().positive(),
      interruptionBand: z.enum(INTERRUPTION_BANDS),
      share: z.number().min(0).default(1),
    }),
  ),
});

export type SpotModel = z.output<typeof SpotModelSchema>;
export type BootDistribution = z.output<typeof BootSchema>;

/** Validates a Spot model (parsed JSON); the error names each bad field. */
export function spotModel(input: unknown, source = "Spot model"): SpotModel {
  const r = SpotModelSchema.safeParse(input);
  if (r.success) return r.data;
  throw new ValidationError(`invalid ${source}`, r.error.issues.map((i) => ({ field: i.path.map(String).join(".") || "(root)", reason: i.message })));
}

/** Constant hazard per instance-second from a band (share of instances interrupted per 730 h month). */
export function interruptionRatePerSecond(model: SpotModel, band: InterruptionBand): number {
  const share = model.interruptionBands[band] ?? 0;
  return -Math.log(1 - share) / (730 * 3600);
}

/** Price per second of one instance: the type's rate, the Windows licence, and its root volume. */
export function pricePerSecond(
  model: SpotModel,
  type: string,
  market: "spot" | "on-demand",
  platform: "windows" | "linux",
  rootVolumeGiB: number,
): number {
  const t = model.instanceTypes[type];
  if (!t) throw new Error(`instance type ${type} is not in the Spot model`);
  const rate = market === "spot" ? t.spotPerHour : t.onDemandPerHour;
  const licence = platform === "windows" ? t.vcpus * model.windowsLicencePerVcpuHour : 0;
  const ebs = (rootVolumeGiB * model.ebsGp3PerGiBMonth) / 730;
  return (rate + licence + ebs) / 3600;
}

/** One boot time from a shifted lognormal: min + lognormal(median − min) with sigma fitted to the p95. */
export function sampleBootSeconds(b: BootDistribution, rng: Rng): number {
  const median = b.medianSeconds - b.minSeconds;
  const sigma = Math.log((b.p95Seconds - b.minSeconds) / median) / 1.6448536;
  return b.minSeconds + rng.lognormal(median, sigma);
}

/** The model's instance types that the config lists, with their shares renormalised; throws naming what is missing. */
export function typeMix(model: SpotModel, instanceTypes: readonly string[]): { type: string; share: number }[] {
  const missing = instanceTypes.filter((t) => !model.instanceTypes[t]);
  if (missing.length === instanceTypes.length)
    throw new ValidationError("the Spot model has none of the config's instance types", [
      { field: "fleet.instanceTypes", reason: `${instanceTypes.join(", ")} are not in the Spot model (it has ${Object.keys(model.instanceTypes).join(", ")})` },
    ]);
  const known = instanceTypes.filter((t) => model.instanceTypes[t]);
  const total = known.reduce((s, t) => s + model.instanceTypes[t]!.share, 0);
  return known.map((t) => ({ type: t, share: total > 0 ? model.instanceTypes[t]!.share / total : 1 / known.length }));
}

/** Draws one instance type from a mix. */
export function pickType(mix: readonly { type: string; share: number }[], rng: Rng): string {
  let u = rng.next();
  for (const m of mix) {
    u -= m.share;
    if (u <= 0) return m.type;
  }
  return mix[mix.length - 1]!.type;
}
