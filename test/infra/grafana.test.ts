import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DELIVERY_FAILURE_METRIC } from "../../aws/delivery-failures.ts";
import { METRIC_DIMENSION, METRIC_NAMESPACE } from "../../core/names.ts";
import { grafanaDashboard, type CloudWatchDashboardBody, type GrafanaDashboard } from "../../infra/constructs/grafana.ts";
import { SpotqStack } from "../../infra/stacks/spotq-stack.ts";
import { Testing } from "../../infra/cdktf.ts";
import { metricData, type JobOutcome } from "../../worker/telemetry/telemetry.ts";
import { FIXTURE_BUNDLES, Synth, testConfig } from "./support/synth.ts";

/** Every metric name the worker puts: each outcome's data points with every figure present, and the delivery failures. */
function workerMetricNames(): string[] {
  const outcomes: JobOutcome[] = ["succeeded", "failed", "retried", "interrupted", "cancelled"];
  const names = outcomes.flatMap((outcome) =>
    metricData({ jobId: "j", attempt: 1, outcome, queueWaitSeconds: 1, downloadSeconds: 1, processSeconds: 1, uploadSeconds: 1, bytesIn: 1, bytesOut: 1 }).map((d) => d.name),
  );
  return [...new Set([...names, ...Object.values(DELIVERY_FAILURE_METRIC)])].sort();
}

describe("infra: the Grafana dashboard is the CloudWatch dashboard's twin", () => {
  const config = testConfig({ name: "lab" });
  const stack = new SpotqStack(Testing.app(), config.name, { config, bundles: FIXTURE_BUNDLES });
  const synth = new Synth(Testing.synth(stack));
  const cloudwatch = JSON.parse(synth.resource("aws_cloudwatch_dashboard").dashboard_body) as CloudWatchDashboardBody;
  const grafana: GrafanaDashboard = grafanaDashboard(JSON.parse(stack.monitoring.dashboard.dashboardBodyInput!), { deployment: config.name, region: config.region });
  const cwRows = cloudwatch.widgets.flatMap((w) => (w.properties.metrics ?? []).map((row) => ({ row, widget: w })));
  const targets = grafana.panels.flatMap((p) => p.targets.map((t) => ({ t, panel: p })));

  it("shows every metric the worker publishes, on both, in namespace spotq for this deployment", () => {
    const names = workerMetricNames();
    assert.ok(names.length >= 12, names.join(", "));
    for (const name of names) {
      assert.ok(
        cwRows.some(({ row }) => row[0] === METRIC_NAMESPACE && row[1] === name && row[2] === METRIC_DIMENSION && row[3] === "lab"),
        `${name} is on the CloudWatch dashboard`,
      );
      assert.ok(
        targets.some(({ t }) => t.namespace === METRIC_NAMESPACE && t.metricName === name && t.dimensions[METRIC_DIMENSION] === "lab"),
        `${name} is on the Grafana dashboard`,
      );
    }
  });

  it("has a query for every CloudWatch metric row, with its statistic, period and label, in the same place", () => {
    assert.equal(targets.length, cwRows.length);
    for (const w of cloudwatch.widgets.filter((x) => x.type === "metric")) {
      const panel = grafana.panels.find((p) => p.title === w.properties.title);
      assert.ok(panel, `a panel "${w.properties.title}"`);
      assert.deepEqual(panel.gridPos, { x: w.x, y: w.y, w: w.width, h: w.height });
      w.properties.metrics!.forEach((row, i) => {
        const t = panel.targets[i]!;
        const options = (row.find((v) => typeof v === "object") ?? {}) as { label?: string; stat?: string };
        assert.deepEqual([t.namespace, t.metricName, t.statistic, t.period, t.label], [row[0], row[1], options.stat ?? w.properties.stat, String(w.properties.period), options.label ?? row[1]]);
      });
    }
  });

  it("asks for a CloudWatch data source and a region when imported, and every query uses them", () => {
    const [ds, region] = grafana.templating.list;
    assert.deepEqual([ds?.name, ds?.type, ds?.query], ["datasource", "datasource", "cloudwatch"]);
    assert.deepEqual([region?.name, (region?.current as { value: string }).value], ["region", "us-east-1"]);
    assert.ok(targets.every(({ t, panel }) => t.datasource.uid === "${datasource}" && panel.datasource.uid === "${datasource}" && t.region === "$region"));
  });

  it("is written by `npm run synth` next to the stack", function () {
    this.timeout(120_000);
    const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
    const outdir = mkdtempSync(join(tmpdir(), "spotq-synth-grafana-"));
    const r = spawnSync("npm", ["run", "--silent", "synth", "--", "--config", join(projectRoot, "spotq.config.example.json")], {
      cwd: projectRoot,
      env: { ...process.env, CDKTF_OUTDIR: outdir },
      encoding: "utf8",
      timeout: 110_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /spotq: wrote .*grafana\/spotq-dashboard\.json/);
    const written = JSON.parse(readFileSync(join(outdir, "grafana", "spotq-dashboard.json"), "utf8")) as GrafanaDashboard;
    const tf = JSON.parse(readFileSync(join(outdir, "stacks", "spotq", "cdk.tf.json"), "utf8"));
    const body = JSON.parse(Object.values(tf.resource.aws_cloudwatch_dashboard as Record<string, { dashboard_body: string }>)[0]!.dashboard_body) as CloudWatchDashboardBody;
    const metricsOf = (g: GrafanaDashboard) => g.panels.flatMap((p) => p.targets.map((t) => `${t.namespace}/${t.metricName}`)).sort();
    assert.deepEqual(metricsOf(written), body.widgets.flatMap((w) => (w.properties.metrics ?? []).map((m) => `${m[0]}/${m[1]}`)).sort());
  });
});
