import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** A CloudWatch dashboard body as infra/constructs/dashboard.ts builds it. */
export interface CloudWatchDashboardBody {
  widgets: {
    type: string;
    x: number;
    y: number;
    width: number;
    height: number;
    properties: { title?: string; region?: string; stat?: string; period?: number; metrics?: (string | Record<string, unknown>)[][]; [k: string]: unknown };
  }[];
}

/** One CloudWatch metric query of a Grafana panel (the CloudWatch data source's "Metric search" form). */
export interface GrafanaCloudWatchTarget {
  refId: string;
  datasource: { type: "cloudwatch"; uid: string };
  queryMode: "Metrics";
  metricQueryType: 0;
  metricEditorMode: 0;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic: string;
  period: string;
  region: string;
  label: string;
  matchExact: true;
  id: "";
  expression: "";
}

export interface GrafanaPanel {
  id: number;
  type: "timeseries";
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: "cloudwatch"; uid: string };
  targets: GrafanaCloudWatchTarget[];
  fieldConfig: { defaults: { unit?: string }; overrides: [] };
  options: { legend: { displayMode: "list"; placement: "bottom" } };
}

export interface GrafanaDashboard {
  title: string;
  uid: string;
  tags: string[];
  schemaVersion: number;
  time: { from: string; to: string };
  refresh: string;
  templating: { list: Record<string, unknown>[] };
  panels: GrafanaPanel[];
}

/** The data source variable every panel uses: pick any CloudWatch data source when importing. */
const DATASOURCE = { type: "cloudwatch" as const, uid: "${datasource}" };

/**
 * The Grafana dashboard of a deployment, translated widget by widget from its CloudWatch dashboard
 * body, so the two show the same metrics under the same names and cannot drift: every metric row
 * becomes a CloudWatch query (namespace, metric, dimensions, statistic, period, label) against the
 * `$datasource` and `$region` variables. CloudWatch's alarm-status widget has no Grafana
 * counterpart: alarms stay in CloudWatch.
 */
export function grafanaDashboard(body: CloudWatchDashboardBody, o: { deployment: string; region: string }): GrafanaDashboard {
  const panels: GrafanaPanel[] = [];
  for (const w of body.widgets) {
    if (w.type !== "metric" || !w.properties.metrics) continue;
    const p = w.properties;
    const targets = p.metrics!.map((row, i) => metricTarget(row, i, String(p.stat ?? "Average"), Number(p.period ?? 300)));
    panels.push({
      id: panels.length + 1,
      type: "timeseries",
      title: String(p.title ?? ""),
      gridPos: { x: w.x, y: w.y, w: w.width, h: w.height },
      datasource: DATASOURCE,
      targets,
      fieldConfig: { defaults: unitOf(String(p.title ?? "")), overrides: [] },
      options: { legend: { displayMode: "list", placement: "bottom" } },
    });
  }
  return {
    title: `spotq (${o.deployment})`,
    uid: `spotq-${o.deployment}`,
    tags: ["spotq"],
    schemaVersion: 39,
    time: { from: "now-24h", to: "now" },
    refresh: "1m",
    templating: {
      list: [
        { name: "datasource", label: "CloudWatch", type: "datasource", query: "cloudwatch", current: {}, hide: 0 },
        { name: "region", label: "Region", type: "custom", query: o.region, current: { text: o.region, value: o.region }, options: [{ text: o.region, value: o.region, selected: true }], hide: 0 },
      ],
    },
    panels,
  };
}

/** `[namespace, metric, dimName, dimValue, …, {label, stat}]` as a Grafana CloudWatch query. */
function metricTarget(row: (string | Record<string, unknown>)[], i: number, stat: string, period: number): GrafanaCloudWatchTarget {
  const strings = row.filter((v): v is string => typeof v === "string");
  const options = (row.find((v) => typeof v === "object") ?? {}) as { label?: string; stat?: string; period?: number };
  const [namespace = "", metricName = "", ...dims] = strings;
  const dimensions: Record<string, string> = {};
  for (let d = 0; d + 1 < dims.length; d += 2) dimensions[dims[d]!] = dims[d + 1]!;
  return {
    refId: String.fromCharCode(65 + i),
    datasource: DATASOURCE,
    queryMode: "Metrics",
    metricQueryType: 0,
    metricEditorMode: 0,
    namespace,
    metricName,
    dimensions,
    statistic: options.stat ?? stat,
    period: String(options.period ?? period),
    region: "$region",
    label: options.label ?? metricName,
    matchExact: true,
    id: "",
    expression: "",
  };
}

function unitOf(title: string): { unit?: string } {
  if (/\(seconds\)/.test(title)) return { unit: "s" };
  if (/\(bytes\)/.test(title)) return { unit: "bytes" };
  return {};
}

/** Writes the dashboard JSON (`npm run synth` puts it next to the synthesized stack). */
export function writeGrafanaDashboard(file: string, dashboard: GrafanaDashboard): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(dashboard, null, 2)}\n`);
}
