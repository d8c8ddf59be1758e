/**
 * The cdktf app: `cdktf deploy` (through cdktf.json) and `npm run synth` run this file. It reads
 * the fleet config (`--config <file>`, else SPOTQ_CONFIG, else spotq.config.json), refuses a bad
 * one before anything is synthesized, naming each bad key, bundles the Lambdas and the worker, and
 * synthesizes the stack into cdktf.out/stacks/<name>/cdk.tf.json (cdktf's CDKTF_OUTDIR wins).
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SpotqError, ValidationError } from "../core/errors.ts";
import { bundleEntries } from "./bundling.ts";
import { App } from "./cdktf.ts";
import { configFileFrom, loadDeployConfig } from "./deploy-config.ts";
import { grafanaDashboard, writeGrafanaDashboard } from "./constructs/grafana.ts";
import { SpotqStack } from "./stacks/spotq-stack.ts";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const log = (line: string) => process.stderr.write(`spotq: ${line}\n`);

try {
  const file = configFileFrom(process.argv.slice(2), process.env, projectRoot);
  const config = loadDeployConfig(file);
  log(`fleet config ${file} is valid`);
  log("bundling the API Lambda, the worker and the boot breaker with esbuild");
  const bundles = bundleEntries(projectRoot, join(projectRoot, "dist", "bundles"));
  const app = new App();
  const stack = new SpotqStack(app, config.name, { config, bundles, configDir: dirname(file) });
  log(`synthesizing stack "${config.name}"`);
  app.synth();
  log(`wrote ${join(app.outdir, "stacks", config.name, "cdk.tf.json")}`);
  // The Grafana twin of the CloudWatch dashboard, from the same widgets (infra/constructs/grafana.ts).
  const grafanaFile = join(app.outdir, "grafana", `${config.name}-dashboard.json`);
  writeGrafanaDashboard(grafanaFile, grafanaDashboard(JSON.parse(stack.monitoring.dashboard.dashboardBodyInput!), { deployment: config.name, region: config.region }));
  log(`wrote ${grafanaFile}`);
} catch (err) {
  if (err instanceof ValidationError) {
    const listed = err.problems.map((p) => `${p.field}: ${p.reason}`).join("; ");
    log(err.message.slice(0, err.message.length - listed.length - 2));
    for (const p of err.problems) log(`  ${p.field}: ${p.reason}`);
  } else if (err instanceof SpotqError) log(err.message);
  else throw err;
  process.exitCode = 1;
}
