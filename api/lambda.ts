import type { Context as LambdaContext } from "aws-lambda";
import { handle, type LambdaEvent } from "hono/aws-lambda";
import { AwsClients } from "../aws/clients.ts";
import { createApi } from "./app.ts";
import { apiDepsFromEnv } from "./compose.ts";
import { withoutStageSegment } from "./lambda-event.ts";

// Built once per container, outside the handler: warm invocations reuse the clients and their sockets.
// A missing variable or a bad config fails the container's init, naming it.
const clients = new AwsClients();
const app = createApi(apiDepsFromEnv(process.env, clients));
const honoHandler = handle(app);

/** The API Gateway proxy entry of the jobs API (payload 1.0 from a REST API, 2.0 from an HTTP API). */
export async function handler(event: LambdaEvent, context: LambdaContext) {
  return honoHandler(withoutStageSegment(event), context);
}

// The trigger functions (issue 10) deploy this same bundle with handler `index.s3TriggerHandler` /
// `index.kafkaTriggerHandler`, each under a role of its own that may only submit.
export { kafkaTriggerHandler, s3TriggerHandler } from "./trigger-lambda.ts";
// The returned-jobs function (docs/scaling.md "Capacity for returned jobs") deploys it with handler
// `index.returnedJobsHandler`, invoked by an EventBridge rule on its groups' terminations.
export { returnedJobsHandler } from "./returned-jobs.ts";
