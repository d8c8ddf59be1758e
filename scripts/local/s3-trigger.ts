import { HeadObjectCommand } from "@aws-sdk/client-s3";
import type { S3Event } from "aws-lambda";
import { EventEmitter } from "node:events";
import type { ApiLog } from "../../api/log.ts";
import { handleS3Event, type S3TriggerDeps, type S3TriggerOutcome } from "../../api/trigger-s3.ts";
import { encodeS3EventKey, markerNotificationFilters, matchesNotificationFilter } from "../../core/intake.ts";
import type { LocalEmulators } from "./emulators.ts";

/** What the local notification path reports, for the stack's log and for tests. */
export interface LocalS3TriggerEvents {
  /** The trigger handled the event of `key`. */
  delivered: [{ key: string; outcomes: S3TriggerOutcome[]; attempt: number }];
  /** The trigger threw on every attempt: the upload made no job (as an S3 event Lambda gave up on). */
  failed: [{ key: string; error: Error; attempts: number }];
}

export interface LocalS3TriggerOptions {
  emulators: Pick<LocalEmulators, "onS3Upload" | "settings" | "clients">;
  /** The trigger's ports (api/trigger-lambda.ts `triggerDepsFromEnv`, on the local endpoints). */
  deps: S3TriggerDeps;
  log: ApiLog;
  /** Retries after a failed delivery, as Lambda's asynchronous invocation. @default 2 */
  retries?: number;
  /** The first retry's delay, doubled each time. @default 1000 */
  retryDelayMs?: number;
}

/**
 * The local stand-in of "S3 event notification → trigger Lambda": every object put into the
 * emulated bucket that passes the same filters infra puts on the bucket (a trigger prefix and the
 * suffix `spotq.json`) becomes an S3 event record of the real shape (version 2.1, URL-encoded
 * key, ETag and size from a HeadObject), handed to the trigger Lambda's own handler. Like Lambda's
 * asynchronous invocation it retries a failed delivery twice, with backoff. fauxqs has no bucket
 * notifications, so uploads are heard through its message spy (scripts/local/emulators.ts).
 */
export class LocalS3Trigger extends EventEmitter<LocalS3TriggerEvents> {
  readonly #o: LocalS3TriggerOptions;
  readonly #unsubscribe: () => void;
  readonly #inFlight = new Set<Promise<void>>();
  #sequence = 0;
  #stopped = false;

  constructor(options: LocalS3TriggerOptions) {
    super();
    this.#o = options;
    const filters = markerNotificationFilters(options.deps.config.triggers.s3.prefixes);
    this.#unsubscribe = options.emulators.onS3Upload((bucket, key) => {
      if (this.#stopped || bucket !== options.deps.bucket || !matchesNotificationFilter(filters, key)) return;
      // Called inside the emulator's PUT: deliver once it has answered, as S3 notifies after the write.
      const p = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#deliver(bucket, key));
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
    });
  }

  /** Resolves once every upload heard so far has been delivered (or given up on). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Stops listening and waits for deliveries under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    await this.idle();
  }

  async #deliver(bucket: string, key: string): Promise<void> {
    const retries = this.#o.retries ?? 2;
    const baseDelay = this.#o.retryDelayMs ?? 1000;
    let event: S3Event;
    try {
      event = await this.#event(bucket, key);
    } catch (err) {
      // Gone already (deleted right after the upload): S3 would still notify, but there is nothing to read.
      this.emit("failed", { key, error: err as Error, attempts: 0 });
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const outcomes = await handleS3Event(this.#o.deps, this.#o.log, event);
        this.emit("delivered", { key, outcomes, attempt });
        return;
      } catch (err) {
        if (attempt > retries || this.#stopped) {
          this.#o.log.error("local s3 trigger: gave up on the event after its retries", { key, attempts: attempt, error: err });
          this.emit("failed", { key, error: err as Error, attempts: attempt });
          return;
        }
        await new Promise((r) => setTimeout(r, baseDelay * 2 ** (attempt - 1)));
      }
    }
  }

  /** The S3 event record S3 would send for this upload. */
  async #event(bucket: string, key: string): Promise<S3Event> {
    const head = await this.#o.emulators.clients.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const sequencer = (++this.#sequence).toString(16).toUpperCase().padStart(16, "0");
    return {
      Records: [
        {
          eventVersion: "2.1",
          eventSource: "aws:s3",
          awsRegion: this.#o.emulators.settings.region,
          eventTime: new Date().toISOString(),
          eventName: "ObjectCreated:Put",
          userIdentity: { principalId: "local" },
          requestParameters: { sourceIPAddress: "127.0.0.1" },
          responseElements: { "x-amz-request-id": sequencer, "x-amz-id-2": "local" },
          s3: {
            s3SchemaVersion: "1.0",
            configurationId: "spotq-s3-trigger",
            bucket: { name: bucket, ownerIdentity: { principalId: "local" }, arn: `arn:aws:s3:::${bucket}` },
            object: { key: encodeS3EventKey(key), size: head.ContentLength ?? 0, eTag: (head.ETag ?? "").replace(/"/g, ""), sequencer },
          },
        },
      ],
    };
  }
}
