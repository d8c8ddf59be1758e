import { withoutApiKeys } from "../../core/fleet-config.ts";
import { ENV } from "../../core/runtime.ts";
import type { ApiBundleProps } from "./refs.ts";
import { terraformLiteral } from "./terraform-string.ts";

/**
 * The environment every function running the API's bundle composes the API's ports from: the config
 * (by default without any tenant's key value) and the table, queues and bucket. Each function adds
 * its own (the group, the key id map, ...).
 */
export function apiBundleVariables(props: Pick<ApiBundleProps, "config" | "table" | "queues" | "dataBucket">, configJson = JSON.stringify(withoutApiKeys(props.config))): Record<string, string> {
  return {
    [ENV.configJson]: terraformLiteral(configJson),
    [ENV.table]: props.table.name,
    [ENV.queueUrl]: props.queues.jobs.url,
    [ENV.dlqUrl]: props.queues.dlq.url,
    ...(props.queues.high ? { [ENV.highQueueUrl]: props.queues.high.url } : {}),
    [ENV.bucket]: props.dataBucket.name,
  };
}
