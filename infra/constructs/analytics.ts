import { AthenaNamedQuery } from "@cdktf/provider-aws/lib/athena-named-query";
import { AthenaWorkgroup } from "@cdktf/provider-aws/lib/athena-workgroup";
import { GlueCatalogDatabase } from "@cdktf/provider-aws/lib/glue-catalog-database";
import { GlueCatalogTable } from "@cdktf/provider-aws/lib/glue-catalog-table";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { ANALYTICS_COLUMNS, ANALYTICS_TABLE } from "../../core/job-result.ts";
import type { PolicyStatement } from "./policy-document.ts";
import type { BucketRef } from "./refs.ts";
import { terraformLiteral } from "./terraform-string.ts";

/** Where Athena writes query results, in the data bucket. */
export const ATHENA_RESULTS_PREFIX = "athena-results/";

/** The first day partition projection offers (the lines start with the deployment). */
export const PROJECTION_START = "2025-01-01";

/** The Glue database of a deployment: `analytics.glueDatabase`, else its name with `_` for `-`. */
export function glueDatabaseName(config: FleetConfig): string {
  return config.analytics.glueDatabase ?? config.name.replace(/-/g, "_");
}

/** The statement that lets a process write analytics lines (and nothing else under the prefix's siblings). */
export function writeAnalyticsLinesStatement(dataBucket: BucketRef, prefix: string): PolicyStatement {
  return { Sid: "WriteAnalyticsLines", Effect: "Allow", Action: "s3:PutObject", Resource: `${dataBucket.arn}/${prefix}*` };
}

/**
 * The three queries the README shows, over the last `days` days: throughput per day, failure
 * reasons, and cost per job from the instance type and the time it worked (at
 * `analytics.hourlyUsd`). Created as named queries of the workgroup, so they cannot drift from the
 * table; `spotq report` computes the same figures from the same lines.
 */
export function analyticsQueries(config: FleetConfig, days = 7): { name: string; description: string; sql: string }[] {
  const t = ANALYTICS_TABLE.name;
  const since = `dt >= date_format(current_date - interval '${days}' day, '%Y-%m-%d')`;
  const prices = Object.entries(config.analytics.hourlyUsd)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, usd]) => `      WHEN '${type}' THEN ${usd}`)
    .join("\n");
  return [
    {
      name: "throughput-per-day",
      description: "Jobs finished per day: succeeded, failed, cancelled, and the mean processing time",
      sql: [
        "SELECT dt AS day, count(*) AS finished,",
        "  count_if(state = 'SUCCEEDED') AS succeeded, count_if(state = 'FAILED') AS failed, count_if(state = 'CANCELLED') AS cancelled,",
        "  avg(process_seconds) FILTER (WHERE state = 'SUCCEEDED') AS avg_process_seconds",
        `FROM ${t}`,
        `WHERE ${since}`,
        "GROUP BY dt",
        "ORDER BY dt",
      ].join("\n"),
    },
    {
      name: "failure-reasons",
      description: "Failed jobs by error code, with the latest message",
      sql: [
        "SELECT error_code, count(*) AS jobs, max_by(error_message, finished_at) AS last_message",
        `FROM ${t}`,
        `WHERE state = 'FAILED' AND ${since}`,
        "GROUP BY error_code",
        "ORDER BY jobs DESC",
      ].join("\n"),
    },
    {
      name: "cost-per-job",
      description: "Instance hours (download + process + upload) and cost per job, by instance type, at analytics.hourlyUsd",
      sql: [
        "WITH worked AS (",
        "  SELECT instance_type,",
        "    coalesce(download_seconds, 0) + coalesce(process_seconds, 0) + coalesce(upload_seconds, 0) AS seconds,",
        "    CASE instance_type",
        prices,
        "    END AS usd_per_hour",
        `  FROM ${t}`,
        `  WHERE state IN ('SUCCEEDED', 'FAILED') AND instance_type IS NOT NULL AND ${since}`,
        ")",
        "SELECT instance_type, count(*) AS jobs, sum(seconds) / 3600 AS hours,",
        "  sum(seconds) / 3600 * max(usd_per_hour) AS cost_usd,",
        "  sum(seconds) / 3600 * max(usd_per_hour) / count(*) AS cost_per_job_usd",
        "FROM worked",
        "GROUP BY instance_type",
        "ORDER BY instance_type",
      ].join("\n"),
    },
  ];
}

export interface AnalyticsProps {
  config: FleetConfig;
  dataBucket: BucketRef;
}

/**
 * Analytics over the jobs' JSON lines (issue 10): a Glue table `spotq_jobs` whose day partitions
 * (`dt=YYYY-MM-DD`) come from partition projection, so no crawler and no `MSCK REPAIR` is needed,
 * and an Athena workgroup that writes its results (SSE-S3) to the data bucket, with the README's
 * three queries saved in it.
 */
export class Analytics extends Construct {
  readonly database: GlueCatalogDatabase;
  readonly table: GlueCatalogTable;
  readonly workgroup: AthenaWorkgroup;
  readonly queries: AthenaNamedQuery[];

  constructor(scope: Construct, id: string, props: AnalyticsProps) {
    super(scope, id);
    const { config, dataBucket } = props;
    const prefix = config.analytics.prefix;
    const location = `s3://${dataBucket.name}/${prefix}`;
    this.database = new GlueCatalogDatabase(this, "database", { name: glueDatabaseName(config), description: `spotq/${config.name}: job analytics` });
    this.table = new GlueCatalogTable(this, "table", {
      databaseName: this.database.name,
      name: ANALYTICS_TABLE.name,
      description: `spotq/${config.name}: one line per finished job`,
      tableType: "EXTERNAL_TABLE",
      parameters: {
        EXTERNAL: "TRUE",
        classification: "json",
        "projection.enabled": "true",
        [`projection.${ANALYTICS_TABLE.partitionKey}.type`]: "date",
        [`projection.${ANALYTICS_TABLE.partitionKey}.format`]: "yyyy-MM-dd",
        [`projection.${ANALYTICS_TABLE.partitionKey}.range`]: `${PROJECTION_START},NOW`,
        [`projection.${ANALYTICS_TABLE.partitionKey}.interval`]: "1",
        [`projection.${ANALYTICS_TABLE.partitionKey}.interval.unit`]: "DAYS",
        // `${dt}` is Athena's placeholder, not Terraform's: escaped.
        "storage.location.template": `${location}${terraformLiteral(`${ANALYTICS_TABLE.partitionKey}=\${${ANALYTICS_TABLE.partitionKey}}/`)}`,
      },
      partitionKeys: [{ name: ANALYTICS_TABLE.partitionKey, type: "string" }],
      storageDescriptor: {
        location,
        inputFormat: "org.apache.hadoop.mapred.TextInputFormat",
        outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        serDeInfo: { serializationLibrary: "org.openx.data.jsonserde.JsonSerDe", parameters: { "ignore.malformed.json": "true" } },
        columns: ANALYTICS_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
      },
    });
    this.workgroup = new AthenaWorkgroup(this, "workgroup", {
      name: `${config.name}-analytics`,
      description: `spotq/${config.name}: queries over ${ANALYTICS_TABLE.name}`,
      forceDestroy: true,
      configuration: {
        enforceWorkgroupConfiguration: true,
        publishCloudwatchMetricsEnabled: true,
        // A runaway query over years of lines stops at 10 GiB scanned.
        bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        resultConfiguration: { outputLocation: `s3://${dataBucket.name}/${ATHENA_RESULTS_PREFIX}`, encryptionConfiguration: { encryptionOption: "SSE_S3" } },
      },
    });
    this.queries = analyticsQueries(config).map(
      (q) =>
        new AthenaNamedQuery(this, `query-${q.name}`, {
          name: `${config.name}-${q.name}`,
          description: q.description,
          database: this.database.name,
          workgroup: this.workgroup.name,
          query: terraformLiteral(q.sql),
        }),
    );
  }
}
