/**
 * The stand-in worker of bench/scale-out-burst.ts: it takes one job off the queue (as the real
 * worker's first poll would) and then "runs" it for good, keeping the message in flight, so a burst's
 * backlog drains as instances come in service, exactly as in the simulator's burst of hour-long jobs.
 * It starts faster than the real worker and needs no table, bucket or processor.
 */
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { AwsClients } from "../aws/clients.ts";
import { ENV, requireEnv } from "../core/runtime.ts";

const clients = new AwsClients();
const queueUrl = requireEnv(process.env, ENV.queueUrl);
process.on("SIGTERM", () => process.exit(0));

for (;;) {
  const r = await clients.sqs().send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 20, VisibilityTimeout: 43_200 }));
  if (r.Messages?.length) break;
}
clients.destroy();
setInterval(() => undefined, 1 << 30);
