import type { Context as LambdaContext } from "aws-lambda";
import { handle, type LambdaEvent } from "hono/aws-lambda";
import { AwsClients } from "../aws/clients.ts";
import { createApi } from "./app.ts";
import { apiDepsFromEnv } from "./compose.ts";
import { withoutStageSegment } from "./lambda-event.ts";

/**
 * The jobs API, built once per container and kept: warm invocations reuse the clients and their
 * sockets. A missing variable or a bad config fails it, naming it. Built at init in the API's own
 * function (Lambda's `_HANDLER` is `index.handler`, or unset outside Lambda), so a broken deployment
 * fails the container's init; on first use elsewhere, because the trigger and returned-jobs functions
 * deploy this same bundle with another handler and an environment made for them, not for the API.
 */
let honoHandler: ReturnType<typeof handle> | undefined;
const api = () => (honoHandler ??= handle(createApi(apiDepsFromEnv(process.env, new AwsClients()))));
if (process.env._HANDLER === undefined || process.env._HANDLER.endsWith(".handler")) api();

/** The API Gateway proxy entry of the jobs API (payload 1.0 from a REST API, 2.0 from an HTTP API). */
export async function handler(event: LambdaEvent, context: LambdaContext) {
  return api()(withoutStageSegment(event), context);
}

// The trigger functions (issue 10) deploy this same bundle with handler `index.s3TriggerHandler` /
// `index.kafkaTriggerHandler`, each under a role of its own that may only submit.
export { kafkaTriggerHandler, s3TriggerHandler } from "./trigger-lambda.ts";
// The returned-jobs function (docs/scaling.md "Capacity for returned jobs") deploys it with handler
// `index.returnedJobsHandler`, invoked by an EventBridge rule on its groups' terminations.
export { returnedJobsHandler } from "./returned-jobs.ts";
