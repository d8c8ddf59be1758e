/**
 * The stand-in worker of bench/scale-out-burst.ts: it takes one job off the queue (as the real
 * worker's first poll would) and then "runs" it for good, keeping the message in flight, so a burst's
 * backlog drains as instances come in service, as in the simulator's burst of hour-long jobs.
 *
 * Plain JavaScript on Node's fetch, speaking SQS's JSON protocol to the local emulator (fauxqs, which
 * checks no signature): it starts in tens of milliseconds, where a TypeScript process with the SDK
 * takes seconds on a loaded machine, and every wall-clock second is twenty scaled ones in the bench.
 */
const endpoint = process.env.SPOTQ_ENDPOINT_SQS;
const queueUrl = process.env.SPOTQ_QUEUE_URL;
if (!endpoint || !queueUrl) {
  console.error("scale-out-burst-worker: SPOTQ_ENDPOINT_SQS and SPOTQ_QUEUE_URL must be set");
  process.exit(2);
}
process.on("SIGTERM", () => process.exit(0));

for (;;) {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ReceiveMessage" },
    body: JSON.stringify({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 20, VisibilityTimeout: 43200 }),
  });
  const body = await res.json();
  if (!res.ok) {
    console.error(`scale-out-burst-worker: ReceiveMessage answered ${res.status}: ${JSON.stringify(body)}`);
    process.exit(1);
  }
  if (body.Messages?.length) break;
}
setInterval(() => undefined, 1 << 30);
