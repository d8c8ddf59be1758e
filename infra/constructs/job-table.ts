import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { JOB_LIST_INDEXES, JOB_TABLE } from "../../core/job.ts";
import { resourceNames } from "../../core/names.ts";
import type { TableRef } from "./refs.ts";

export interface JobTableProps {
  config: FleetConfig;
}

/**
 * The jobs table, shaped exactly as aws/job-store.ts `ensureJobTable` makes it locally: key
 * `jobId`, the four sharded listing indexes of core/job.ts `JOB_LIST_INDEXES` (projecting only the
 * list filters `name` and `tags`, so heartbeats write no index; docs/capacity.md) and TTL on
 * `expiresAt`; plus what only AWS has: on-demand billing, point-in-time recovery and KMS
 * encryption at rest.
 */
export class JobTable extends Construct {
  readonly table: DynamodbTable;
  readonly ref: TableRef;

  constructor(scope: Construct, id: string, props: JobTableProps) {
    super(scope, id);
    this.table = new DynamodbTable(this, "table", {
      name: resourceNames(props.config.name).table,
      billingMode: "PAY_PER_REQUEST",
      hashKey: JOB_TABLE.partitionKey,
      attribute: [JOB_TABLE.partitionKey, JOB_TABLE.listKeyAttribute, JOB_TABLE.tenantKeyAttribute, JOB_TABLE.stateSortAttribute].map((name) => ({ name, type: "S" })),
      globalSecondaryIndex: JOB_LIST_INDEXES.map((g) => ({
        name: g.name,
        hashKey: g.hashKey,
        rangeKey: g.rangeKey,
        projectionType: "INCLUDE",
        nonKeyAttributes: [...JOB_TABLE.listProjection],
      })),
      ttl: { attributeName: JOB_TABLE.ttlAttribute, enabled: true },
      pointInTimeRecovery: { enabled: true },
      // The record of every job: `cdktf destroy` (or a rename) must not drop it by accident.
      deletionProtectionEnabled: true,
      // The AWS-managed key (aws/dynamodb): encrypted at rest, no key policy for callers to need.
      serverSideEncryption: { enabled: true },
    });
    this.ref = { name: this.table.name, arn: this.table.arn };
  }
}
