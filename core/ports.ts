import type { JobRecord, QueueMessage } from "./job.ts";
import type { JobState } from "./job-state.ts";

/** What a conditional write expects to find; any mismatch makes the write lose. */
export interface Expected {
  /** The record must be in one of these states. */
  state: JobState | readonly JobState[];
  /** The record's attempt counter must equal this (guards against stale workers). */
  attempts?: number;
  /** The record's dispatch token must equal this (a claim racing an adoption, CONTRACTS §5). */
  dispatchId?: string;
}

/** What `JobStore.list` lists: newest first, every filter applied together. */
export interface JobListQuery {
  state?: JobState;
  limit: number;
  /** The cursor of the previous page of the same query. */
  next?: string;
  /** Only this tenant's jobs (its own index); absent: every job. */
  tenant?: string;
  /** Only jobs of exactly this name. */
  name?: string;
  /** Only jobs whose name starts with this. */
  namePrefix?: string;
  /** Only jobs carrying each of these tags (with this value, or any value when `value` is absent). */
  tags?: readonly { key: string; value?: string }[];
}

/**
 * A page of a listing. It may hold fewer than `limit` jobs while `next` is still given: a filtered
 * listing stops after reading a bounded number of index items, and says where to go on.
 */
export interface JobListPage {
  items: JobRecord[];
  /** Opaque cursor for the next page, absent on the last page. */
  next?: string;
}

/** The jobs table. Every state change is a conditional write. */
export interface JobStore {
  /** Writes a new record; fails if the id exists. With an idempotency key, returns the existing job instead when the key was used. */
  create(record: JobRecord): Promise<{ created: boolean; record: JobRecord }>;
  get(jobId: string): Promise<JobRecord | undefined>;
  /**
   * Moves a job to `to` and applies `patch`, only if it matches `expected`.
   * Throws StaleTransitionError when it does not (the record is left unchanged).
   * Also refuses transitions core/job-state does not allow.
   */
  transition(jobId: string, expected: Expected, to: JobState, patch?: Partial<JobRecord>): Promise<JobRecord>;
  /** Applies `patch` without a state change (progress, heartbeat), only if it matches `expected`. */
  update(jobId: string, expected: Expected, patch: Partial<JobRecord>): Promise<JobRecord>;
  /** Newest first; `state`, `tenant`, `name`/`namePrefix` and `tags` filter. */
  list(query: JobListQuery): Promise<JobListPage>;
  /** Removes a record (and its idempotency key), e.g. when enqueueing failed. */
  remove(jobId: string): Promise<void>;
}

/** One received message. */
export interface ReceivedJob {
  message: QueueMessage;
  messageId: string;
  receiptHandle: string;
  /** SQS's ApproximateReceiveCount, 1 on the first delivery. */
  receiveCount: number;
  /** When the message was first sent (SentTimestamp). */
  sentAt: number;
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

/** The jobs queue (and its DLQ). */
export interface JobQueue {
  send(message: QueueMessage, options?: { delaySeconds?: number }): Promise<string>;
  /** Long-polls for at most one message; undefined when none came. */
  receive(options: { waitSeconds: number; visibilitySeconds?: number; signal?: AbortSignal }): Promise<ReceivedJob | undefined>;
  /** Heartbeat: keep the message invisible for `seconds` more from now. */
  extend(receiptHandle: string, seconds: number): Promise<void>;
  /** Give the message back: visible again after `delaySeconds` (0 = at once). */
  release(receiptHandle: string, delaySeconds?: number): Promise<void>;
  delete(receiptHandle: string): Promise<void>;
  /** Sends the message to the DLQ and deletes it from the queue. */
  deadLetter(received: ReceivedJob, reason: string): Promise<void>;
  depth(): Promise<QueueDepth>;
}

/** A folder of objects in the data bucket. */
export interface FolderSummary {
  objects: number;
  bytes: number;
  /** True when listing stopped early because the size limit was passed. */
  overLimit: boolean;
}

/** The data bucket, as the API sees it. */
export interface ObjectStore {
  /** Counts the objects and bytes under `s3://bucket/prefix/`, stopping once past `maxBytes`. */
  summarizeFolder(bucket: string, prefix: string, options?: { maxBytes?: number }): Promise<FolderSummary>;
}

export interface GroupInstance {
  instanceId: string;
  /** Auto Scaling's lifecycle state: Pending, Pending:Wait, InService, Terminating, Terminating:Wait, ... */
  lifecycleState: string;
  protectedFromScaleIn: boolean;
  /** "Healthy" or "Unhealthy" (SetInstanceHealth, EC2 status checks). @default "Healthy" */
  healthStatus?: string;
  /** The launch template version the instance was launched from (a number as text). */
  launchTemplateVersion?: string;
  availabilityZone?: string;
  instanceType?: string;
}

export interface GroupState {
  name: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  instances: GroupInstance[];
  /** The launch template version new instances get (a number as text; infra never uses $Latest). */
  launchTemplateVersion?: string;
  /** Suspended Auto Scaling processes, e.g. "Launch" (the boot breaker tripped) or "AZRebalance". */
  suspendedProcesses?: string[];
  /** The group's tags; the boot breaker records why it tripped under `BREAKER_TAG` (core/names.ts). */
  tags?: Record<string, string>;
}

/** How a lifecycle action ends: CONTINUE lets the transition go on; ABANDON (launch) terminates the instance. */
export type LifecycleActionResult = "CONTINUE" | "ABANDON";

/** The Auto Scaling Group, as the worker and the API's fast path see it. */
export interface FleetControl {
  /** Sets or lifts scale-in protection of one instance of the group. */
  protect(instanceId: string, protect: boolean): Promise<void>;
  /** Terminates an instance of the group, lowering desired capacity when `decrement`. */
  terminate(instanceId: string, decrement: boolean): Promise<void>;
  describeGroup(): Promise<GroupState>;
  /** Raises desired capacity to `atLeast` (capped at max); never lowers it. Returns the values before and after. */
  raiseDesired(atLeast: number): Promise<{ before: number; after: number }>;
  /** SetInstanceHealth (without respecting the grace period): an Unhealthy instance is replaced by the group. */
  setHealth(instanceId: string, status: "Healthy" | "Unhealthy"): Promise<void>;
  /** CompleteLifecycleAction by instance id (no token needed). */
  completeLifecycleAction(hookName: string, instanceId: string, result: LifecycleActionResult): Promise<void>;
  /** RecordLifecycleActionHeartbeat: restarts the hook's heartbeat timeout. */
  recordLifecycleHeartbeat(hookName: string, instanceId: string): Promise<void>;
}

/** Instance metadata (IMDSv2). */
export interface InstanceMetadata {
  instanceId(): Promise<string>;
  /** The Spot interruption notice, if one is posted. */
  spotInterruption(): Promise<{ action: string; time: string } | undefined>;
  /** The rebalance recommendation, if one is posted. */
  rebalanceRecommendation(): Promise<{ noticeTime: string } | undefined>;
  /**
   * `autoscaling/target-lifecycle-state`: the state Auto Scaling is moving the instance to
   * ("InService", "Terminated", "Warmed:*"), or undefined when IMDS has none yet.
   */
  targetLifecycleState(): Promise<string | undefined>;
}
