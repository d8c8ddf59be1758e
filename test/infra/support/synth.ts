import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Construct } from "constructs";
import { deployConfig } from "../../../infra/deploy-config.ts";
import { fleetConfig, type FleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import { Testing, testingMatchers } from "../../../infra/cdktf.ts";
import type { AwsEnv } from "../../../infra/constructs/refs.ts";
import { SpotqStack } from "../../../infra/stacks/spotq-stack.ts";

/** Prebuilt stand-in bundles, so construct tests do not depend on api/ and worker/. */
export const FIXTURE_BUNDLES = {
  lambdaDir: fileURLToPath(new URL("../fixtures/bundles/lambda", import.meta.url)),
  workerDir: fileURLToPath(new URL("../fixtures/bundles/worker", import.meta.url)),
  breakerDir: fileURLToPath(new URL("../fixtures/bundles/breaker", import.meta.url)),
};

export const ACCOUNT = "111122223333";
export const REGION = "us-east-1";
export const TEST_ENV: AwsEnv = { accountId: ACCOUNT, region: REGION, partition: "aws" };

/** What a deployable config needs beyond the defaults. */
export const DEPLOYABLE = {
  fleet: { amiId: "ami-0123456789abcdef0", subnetIds: ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"] },
} as const;

/** A validated, deployable config: the defaults, an AMI and subnets, and the given overrides. */
export function testConfig(overrides: FleetConfigInput = {}): FleetConfig {
  return deployConfig(merge(structuredClone(DEPLOYABLE) as Record<string, unknown>, overrides as Record<string, unknown>), "test config");
}

/**
 * A config core accepts but `npm run synth` would refuse (deploy-config.ts): for tests of what
 * constructs do with values that only reach them when a check is bypassed (defence in depth).
 */
export function unsafeTestConfig(overrides: FleetConfigInput = {}): FleetConfig {
  return fleetConfig(merge(structuredClone(DEPLOYABLE) as Record<string, unknown>, overrides as Record<string, unknown>), "test config");
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    base[k] = v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b) ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return base;
}

/** A synthesized configuration: the Terraform JSON and accessors by resource type. */
export class Synth {
  readonly json: string;
  readonly tf: { resource?: Record<string, Record<string, Record<string, unknown>>>; data?: Record<string, Record<string, Record<string, unknown>>>; output?: Record<string, { value: unknown }>; provider?: Record<string, Record<string, unknown>[]>; terraform?: Record<string, unknown> };

  constructor(json: string) {
    this.json = json;
    this.tf = JSON.parse(json);
  }

  /** Resources of a type, by their Terraform name. */
  resources(type: string): Record<string, Record<string, any>> {
    return (this.tf.resource?.[type] ?? {}) as Record<string, Record<string, any>>;
  }

  /** The one resource of a type whose Terraform name contains `nameHint` (or the only one). */
  resource(type: string, nameHint = ""): Record<string, any> {
    const matches = Object.entries(this.resources(type)).filter(([n]) => n.includes(nameHint));
    assert.equal(matches.length, 1, `expected one ${type} named like "${nameHint}", found ${matches.map(([n]) => n).join(", ") || "none"}`);
    return matches[0]![1];
  }

  /** The Terraform name of the one resource of a type named like `nameHint`. */
  nameOf(type: string, nameHint = ""): string {
    const matches = Object.keys(this.resources(type)).filter((n) => n.includes(nameHint));
    assert.equal(matches.length, 1, `expected one ${type} named like "${nameHint}", found ${matches.join(", ") || "none"}`);
    return matches[0]!;
  }

  /** `${type.name.attr}`: how another resource refers to an attribute of this one. */
  ref(type: string, nameHint: string, attr: string): string {
    return "${" + `${type}.${this.nameOf(type, nameHint)}.${attr}` + "}";
  }

  /** `${data.type.name.attr}`: how a resource refers to an attribute of the one data source of a type. */
  dataRef(type: string, attr: string): string {
    const names = Object.keys(this.data(type));
    assert.equal(names.length, 1, `expected one data.${type}, found ${names.join(", ") || "none"}`);
    return "${" + `data.${type}.${names[0]}.${attr}` + "}";
  }

  data(type: string): Record<string, Record<string, any>> {
    return (this.tf.data?.[type] ?? {}) as Record<string, Record<string, any>>;
  }

  /** Every resource of the configuration as [type, name, body]. */
  allResources(): [string, string, Record<string, any>][] {
    return Object.entries(this.tf.resource ?? {}).flatMap(([type, byName]) => Object.entries(byName).map(([name, body]) => [type, name, body] as [string, string, Record<string, any>]));
  }
}

/** Synthesizes constructs in a fresh test stack. */
export function synthScope(build: (scope: Construct) => void): Synth {
  return new Synth(Testing.synthScope(build));
}

/** Asserts a resource of the class with (at least) these properties exists, with cdktf's own matcher. */
export function assertHasResource(synth: Synth, resourceClass: { readonly tfResourceType: string }, properties: Record<string, unknown>): void {
  const r = testingMatchers.getToHaveResourceWithProperties()(synth.json, resourceClass, properties);
  assert.ok(r.pass, r.message);
}

/** Synthesizes a whole deployment stack (with the stand-in bundles unless given real ones). */
export function synthStack(config: FleetConfig, bundles = FIXTURE_BUNDLES): Synth {
  return new Synth(Testing.synth(new SpotqStack(Testing.app(), config.name, { config, bundles })));
}
