import { join } from "node:path";
import type { FleetConfig } from "../core/fleet-config.ts";
import { bundleEntries, type Bundles } from "./bundling.ts";
import { App } from "./cdktf.ts";
import { SpotqStack } from "./stacks/spotq-stack.ts";

export interface SynthesizeOptions {
  config: FleetConfig;
  projectRoot: string;
  /** Where the Terraform JSON goes; absent means cdktf's choice (CDKTF_OUTDIR, else `cdktf.out`). */
  outdir?: string;
  /** Prebuilt bundles; absent means bundle `api/lambda.ts` and `worker/main.ts` now. */
  bundles?: Bundles;
  /** Progress lines (bundling, synthesis). */
  log?: (line: string) => void;
}

/** Bundles the code and synthesizes the deployment's stack; returns the folder holding `cdk.tf.json`. */
export function synthesizeDeployment(o: SynthesizeOptions): { stackDir: string; stackName: string } {
  const log = o.log ?? (() => {});
  let bundles = o.bundles;
  if (!bundles) {
    log("bundling the API Lambda and the worker with esbuild");
    bundles = bundleEntries(o.projectRoot, join(o.projectRoot, "dist", "bundles"));
  }
  const app = new App(o.outdir ? { outdir: o.outdir } : {});
  const stackName = o.config.name;
  new SpotqStack(app, stackName, { config: o.config, bundles });
  log(`synthesizing stack "${stackName}"`);
  app.synth();
  return { stackDir: join(app.outdir, "stacks", stackName), stackName };
}
