/**
 * The scale-out policies spotq can deploy, and what each does with an alarm's value. Pure: the
 * metric values come in, a desired capacity goes out.
 *
 * Three kinds (`scaling.policy`):
 * - `visible`: a step-scaling policy on the queue's visible messages (`scaling.scaleOutSteps`),
 *   warmup = boot time. The classic queue-depth alarm.
 * - `deficit`: a step-scaling policy on the jobs no in-service instance is serving, by CloudWatch
 *   metric math over the SQS and group metrics: visible + in flight − in service. The steps add
 *   exactly that many instances, so with Auto Scaling's own rule (new desired = warm capacity +
 *   adjustment, applied only above the present desired, which counts the pending instances) a burst
 *   of N jobs asks for N instances in one evaluation.
 * - `target-tracking`: AWS's "backlog per instance" guidance: visible / in service held at a target.
 *
 * Auto Scaling's step rule (AWS user guide, "Step and simple scaling policies", instance warmup):
 * instances still warming up are not part of the current capacity, so a standing alarm in the same
 * step does not add them twice; desired = current capacity + adjustment, capped at max, and a
 * scale-out policy never lowers desired capacity.
 */

export const POLICY_KINDS = ["deficit", "visible", "target-tracking"] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** Step adjustments per step-scaling policy (AWS quota, not adjustable). */
export const MAX_STEP_ADJUSTMENTS = 20;

export interface ScalingStep {
  name: string;
  /** The step applies when the alarm's value is at least this. */
  backlogAtLeast: number;
  addInstances: number;
}

/**
 * The raw metrics at one period boundary, as CloudWatch has them:
 * - SQS (`AWS/SQS`, dimension QueueName): visible, in flight (NotVisible ≈ jobs running), delayed;
 * - the group (`AWS/AutoScaling`, group metrics at 1-minute granularity): pending, in service.
 * An SQS value is undefined when SQS published nothing for the period (an idle queue).
 */
export interface MetricSample {
  visible: number | undefined;
  notVisible: number | undefined;
  delayed?: number | undefined;
  pending: number;
  inService: number;
}

/**
 * The metrics of the signals, by metric-math id, and the expression infra synthesizes for each
 * policy (only the last query returns data). `signalValue` computes the same thing here; a test
 * evaluates these strings against it.
 */
export const SIGNAL_METRICS = {
  visible: { namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", stat: "Maximum", dimension: "QueueName" },
  inflight: { namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesNotVisible", stat: "Maximum", dimension: "QueueName" },
  // Minimum: over a period longer than the group metrics' minute, the fewest instances in service (errs toward scaling out).
  inservice: { namespace: "AWS/AutoScaling", metricName: "GroupInServiceInstances", stat: "Minimum", dimension: "AutoScalingGroupName" },
} as const;
export type SignalMetricId = keyof typeof SIGNAL_METRICS;

export const SIGNAL_EXPRESSIONS: Record<"deficit" | "target-tracking", { metrics: SignalMetricId[]; expression: string; label: string }> = {
  deficit: {
    metrics: ["visible", "inflight", "inservice"],
    expression: "FILL(visible, 0) + FILL(inflight, 0) - FILL(inservice, 0)",
    label: "jobs queued or running without an instance in service",
  },
  "target-tracking": {
    metrics: ["visible", "inservice"],
    expression: "IF(FILL(inservice, 0) > 0, FILL(visible, 0) / FILL(inservice, 0), FILL(visible, 0))",
    label: "visible jobs per instance in service",
  },
};

/**
 * The value the policy's alarm sees for a sample, computed as the synthesized metric math does
 * (FILL(m, 0) for the SQS metrics: missing is zero). Undefined when the alarm has no data at all.
 */
export function signalValue(kind: PolicyKind, s: MetricSample): number | undefined {
  const v = s.visible ?? 0;
  const nv = s.notVisible ?? 0;
  switch (kind) {
    case "visible":
      return s.visible;
    case "deficit":
      // Jobs queued or running, minus instances in service: the jobs no in-service instance serves.
      // (Pending instances are counted by Auto Scaling itself: they are part of desired capacity.)
      return v + nv - s.inService;
    case "target-tracking":
      // AWS's backlog per instance: visible / InService; from zero instances, the backlog itself.
      return s.inService > 0 ? v / s.inService : v;
  }
}

/**
 * The deficit policy's steps: adjustment = deficit exactly, one step per value up to the group's
 * max size; above 20 values (the quota), the top steps grow geometrically and add their lower bound,
 * so a huge burst gets at least 1/ratio of what it needs in one evaluation and the rest as the
 * first instances come in service.
 */
export function deficitSteps(maxSize: number): ScalingStep[] {
  const bounds: number[] = [];
  if (maxSize <= MAX_STEP_ADJUSTMENTS) for (let b = 1; b <= maxSize; b++) bounds.push(b);
  else {
    const exact = 12;
    for (let b = 1; b <= exact; b++) bounds.push(b);
    const rest = MAX_STEP_ADJUSTMENTS - exact;
    const ratio = (maxSize / exact) ** (1 / rest);
    for (let i = 1; i <= rest; i++) {
      const b = Math.max(bounds[bounds.length - 1]! + 1, Math.round(exact * ratio ** i));
      bounds.push(Math.min(b, maxSize));
    }
  }
  return [...new Set(bounds)].map((b) => ({ name: `deficit-${b}`, backlogAtLeast: b, addInstances: b }));
}

/** The highest step whose lower bound `value` reaches, from steps in ascending order. */
export function stepFor(steps: readonly ScalingStep[], value: number): ScalingStep | undefined {
  let found: ScalingStep | undefined;
  for (const s of steps) if (value >= s.backlogAtLeast) found = s;
  return found;
}

/**
 * Desired capacity after a ChangeInCapacity step of `add` instances, with instance warmup:
 * the base is the current capacity (instances in service past their warmup), not desired capacity;
 * the result is capped at `maxSize` and never below the present desired capacity.
 */
export function stepScalingDesired(input: { desired: number; maxSize: number; currentCapacity: number; add: number }): number {
  const target = Math.min(input.maxSize, input.currentCapacity + input.add);
  return Math.max(input.desired, target);
}

/**
 * Target tracking's scale-out: capacity × metric / target, rounded up, above desired only (scale-in
 * disabled: workers leave by themselves). From a warm capacity of 0 the base is taken as 1 — an
 * assumption (AWS does not document the from-zero case); spotq keeps the fast path for zero.
 */
export function targetTrackingDesired(input: { desired: number; maxSize: number; currentCapacity: number; metric: number; target: number }): number {
  const base = Math.max(1, input.currentCapacity);
  const target = Math.min(input.maxSize, Math.ceil((base * input.metric) / input.target - 1e-9));
  return Math.max(input.desired, target);
}
