import assert from "node:assert/strict";
import { ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { queueDepth } from "../../../aws/job-queue.ts";
import { useLocalAws } from "../../support/local-aws.ts";

describe("local emulators behave like SQS where the fleet depends on it", () => {
  const aws = useLocalAws();

  it("counts a message whose visibility timeout ran out as visible again, with no receive in between", async () => {
    const { emulators, resources } = aws();
    const sqs = emulators.clients.sqs();
    await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: "{}" }));
    // A worker takes the message for one second and dies: nobody receives or deletes it again.
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: resources.queueUrl, VisibilityTimeout: 1, WaitTimeSeconds: 1 }));
    assert.equal(r.Messages?.length, 1);
    assert.deepEqual(await queueDepth(sqs, resources.queueUrl), { visible: 0, inFlight: 1, delayed: 0 });
    let depth = await queueDepth(sqs, resources.queueUrl);
    for (let i = 0; i < 100 && depth.visible === 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      depth = await queueDepth(sqs, resources.queueUrl);
    }
    assert.deepEqual(depth, { visible: 1, inFlight: 0, delayed: 0 }, "the queue-depth alarm must see the returned job");
  });
});
