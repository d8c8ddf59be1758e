import assert from "node:assert/strict";
import { ChangeMessageVisibilityCommand, CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { queueDepth } from "../../../aws/job-queue.ts";
import { startEmulators, type LocalEmulators } from "../../../scripts/local/emulators.ts";
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

  describe("kept on disk (a data folder, as the e2e stacks and a restartable `npm start` use)", () => {
    let dir: string;
    let running: LocalEmulators | undefined;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), "spotq-emulators-"));
    });
    afterEach(async () => {
      await running?.stop();
      running = undefined;
      await rm(dir, { recursive: true, force: true });
    });

    it("a message put back at once (ChangeMessageVisibility 0) is visible again, keeps its receive count, and survives a restart", async () => {
      running = await startEmulators({ dataDir: dir });
      let sqs = running.clients.sqs();
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "released" }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "{}" }));
      const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1, VisibilityTimeout: 30, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
      assert.equal(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount, "1");
      // A draining worker hands back what its last poll brought.
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl, ReceiptHandle: first.Messages[0]!.ReceiptHandle, VisibilityTimeout: 0 }));
      assert.deepEqual(await queueDepth(sqs, QueueUrl!), { visible: 1, inFlight: 0, delayed: 0 });

      await running.stop();
      running = await startEmulators({ dataDir: dir });
      sqs = running.clients.sqs();
      assert.deepEqual(await queueDepth(sqs, QueueUrl!), { visible: 1, inFlight: 0, delayed: 0 }, "the restarted emulator finds it visible");
      const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
      assert.equal(again.Messages?.[0]?.MessageId, first.Messages[0]!.MessageId);
      assert.equal(again.Messages?.[0]?.Attributes?.ApproximateReceiveCount, "2");
    });
  });
});
