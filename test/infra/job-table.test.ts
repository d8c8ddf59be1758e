import assert from "node:assert/strict";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { JOB_TABLE } from "../../core/job.ts";
import { JobTable } from "../../infra/constructs/job-table.ts";
import { useLocalAws } from "../support/local-aws.ts";
import { assertHasResource, synthScope, testConfig } from "./support/synth.ts";

describe("infra/constructs/job-table", () => {
  const config = testConfig({ name: "acme" });
  const synth = synthScope((scope) => new JobTable(scope, "table", { config }));
  const table = synth.resource("aws_dynamodb_table");

  it("bills on demand, keeps point-in-time recovery and encrypts at rest", () => {
    assertHasResource(synth, DynamodbTable, {
      name: "acme-jobs",
      billing_mode: "PAY_PER_REQUEST",
      point_in_time_recovery: { enabled: true },
      server_side_encryption: { enabled: true },
    });
  });

  it("cannot be deleted by a destroy or a rename without first turning deletion protection off", () => {
    assert.equal(table.deletion_protection_enabled, true);
  });

  it("removes finished records through TTL on expiresAt", () => {
    assert.deepEqual(table.ttl, { attribute_name: JOB_TABLE.ttlAttribute, enabled: true });
  });

  it("has the indexes the API lists jobs by: by state and by time, newest first on jobId", () => {
    const gsis = Object.fromEntries((table.global_secondary_index as Record<string, unknown>[]).map((g) => [g.name, g]));
    assert.deepEqual(gsis[JOB_TABLE.byStateIndex], { name: "byState", hash_key: "state", range_key: "jobId", projection_type: "ALL" });
    assert.deepEqual(gsis[JOB_TABLE.byTimeIndex], { name: "byTime", hash_key: "listKey", range_key: "jobId", projection_type: "ALL" });
  });

  describe("has the shape aws/job-store.ts ensureJobTable gives the local table", () => {
    const aws = useLocalAws({ name: "acme" });

    it("same key, attribute types, indexes and projections", async () => {
      const { emulators, resources } = aws();
      assert.equal(resources.tableName, table.name);
      const d = (await emulators.clients.dynamo().send(new DescribeTableCommand({ TableName: resources.tableName }))).Table!;
      const attrs = (d.AttributeDefinitions ?? []).map((a) => ({ name: a.AttributeName, type: a.AttributeType }));
      assert.deepEqual(
        [...attrs].sort((a, b) => a.name!.localeCompare(b.name!)),
        [...(table.attribute as { name: string; type: string }[])].sort((a, b) => a.name.localeCompare(b.name)),
      );
      assert.deepEqual(d.KeySchema, [{ AttributeName: table.hash_key, KeyType: "HASH" }]);
      const local = (d.GlobalSecondaryIndexes ?? []).map((g) => ({
        name: g.IndexName,
        hash_key: g.KeySchema?.find((k) => k.KeyType === "HASH")?.AttributeName,
        range_key: g.KeySchema?.find((k) => k.KeyType === "RANGE")?.AttributeName,
        projection_type: g.Projection?.ProjectionType,
      }));
      const byName = (a: { name?: string }, b: { name?: string }) => a.name!.localeCompare(b.name!);
      assert.deepEqual(local.sort(byName), [...(table.global_secondary_index as { name: string }[])].sort(byName));
    });
  });
});
