import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import { JOB_TABLE } from "../../core/job.ts";
import { resourceNames } from "../../core/names.ts";
import type { TableRef } from "./refs.ts";

export interface JobTableProps {
  config: FleetConfig;
}

/**
 * The jobs table, shaped exactly as aws/job-store.ts `ensureJobTable` makes it locally: key
 * `jobId`, the `byState` and `byTime` indexes (all attributes projected) and TTL on `expiresAt`;
 * plus what only AWS has: on-demand billing, point-in-time recovery and KMS encryption at rest.
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
      attribute: [
        { name: JOB_TABLE.partitionKey, type: "S" },
        { name: "state", type: "S" },
        { name: JOB_TABLE.listKeyAttribute, type: "S" },
      ],
      globalSecondaryIndex: [
        { name: JOB_TABLE.byStateIndex, hashKey: "state", rangeKey: JOB_TABLE.partitionKey, projectionType: "ALL" },
        { name: JOB_TABLE.byTimeIndex, hashKey: JOB_TABLE.listKeyAttribute, rangeKey: JOB_TABLE.partitionKey, projectionType: "ALL" },
      ],
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
