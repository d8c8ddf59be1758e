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

  it("has the sharded indexes the API lists jobs by (time, state, a tenant's time and state), projecting only the list filters", () => {
    const gsis = Object.fromEntries((table.global_secondary_index as Record<string, unknown>[]).map((g) => [g.name, g]));
    const include = { projection_type: "INCLUDE", non_key_attributes: ["name", "tags"] };
    assert.deepEqual(gsis, {
      jobsByTime: { name: "jobsByTime", hash_key: "listKey", range_key: "jobId", ...include },
      jobsByState: { name: "jobsByState", hash_key: "listKey", range_key: "stateSort", ...include },
      tenantJobsByTime: { name: "tenantJobsByTime", hash_key: "tenantKey", range_key: "jobId", ...include },
      tenantJobsByState: { name: "tenantJobsByState", hash_key: "tenantKey", range_key: "stateSort", ...include },
    });
    // No index is keyed on a value with few distinct values (the old byState on `state`, byTime on a constant).
    for (const g of Object.values(gsis) as { hash_key: string }[]) assert.notEqual(g.hash_key, "state");
    assert.deepEqual(
      (table.attribute as { name: string }[]).map((a) => a.name).sort(),
      ["jobId", "listKey", "stateSort", "tenantKey"],
      "the state itself is no key attribute any more",
    );
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
        non_key_attributes: g.Projection?.NonKeyAttributes,
      }));
      const byName = (a: { name?: string }, b: { name?: string }) => a.name!.localeCompare(b.name!);
      assert.deepEqual(local.sort(byName), [...(table.global_secondary_index as { name: string }[])].sort(byName));
    });
  });
});
