import { SpotqError, type Problem } from "../core/errors.ts";

/** Machine-readable codes of the API's error answers. */
export const ApiErrorCode = {
  /** 400: the request (body, query, header) is invalid; `problems` lists every reason. */
  invalidRequest: "INVALID_REQUEST",
  /** 413: the body is larger than the deployment accepts. */
  bodyTooLarge: "BODY_TOO_LARGE",
  /** 415: the body is not sent as JSON. */
  unsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
  /** 403: no tenant's API key (or principal) came with the request; as API Gateway answers a missing key. */
  forbidden: "FORBIDDEN",
  /** 404: no such job (or another tenant's), or no such route. */
  notFound: "NOT_FOUND",
  /** 405: the route exists, the method does not. */
  methodNotAllowed: "METHOD_NOT_ALLOWED",
  /** 409: the job's state forbids the operation. */
  conflict: "CONFLICT",
  /** 422: an Idempotency-Key was already used for a different request. */
  idempotencyKeyReused: "IDEMPOTENCY_KEY_REUSED",
  /** 503: a dependency (table, queue, bucket) failed; nothing was left half-done, retry. */
  unavailable: "SERVICE_UNAVAILABLE",
  /** 503: the job could not be enqueued; its record was removed (or marked FAILED), retry. */
  enqueueFailed: "ENQUEUE_FAILED",
  /** 500: a bug in the API itself. */
  internal: "INTERNAL",
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** Status codes the API answers errors with. */
export type ErrorStatus = 400 | 403 | 404 | 405 | 409 | 413 | 415 | 422 | 500 | 503;

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: {
    code: ApiErrorCode;
    message: string;
    /** Every problem with the request, each naming its field. Present on 4xx answers about input. */
    problems?: Problem[];
    /** True when the same request may succeed if retried later (5xx answers). */
    retryable?: boolean;
    [detail: string]: unknown;
  };
}

/** An error that becomes an HTTP answer: status, code, message, and the problems or details. */
export class ApiError extends SpotqError {
  readonly status: ErrorStatus;
  readonly problems?: Problem[];
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: ErrorStatus,
    code: ApiErrorCode,
    message: string,
    options: { problems?: Problem[]; details?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.name = "ApiError";
    this.status = status;
    if (options.problems) this.problems = options.problems;
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }

  get body(): ErrorBody {
    return {
      error: {
        code: this.code as ApiErrorCode,
        message: this.message,
        ...(this.problems ? { problems: this.problems } : {}),
        ...(this.status >= 500 ? { retryable: this.status === 503 } : {}),
        ...this.details,
      },
    };
  }
}

/**
 * 400 listing every problem. A key that is the empty string is named `""`, so the answer still
 * shows which field it is about.
 */
export function invalidRequest(found: Problem[]): ApiError {
  const problems = found.map((p) => (p.field === "" ? { ...p, field: '""' } : p));
  const summary = problems.length === 1 ? `${problems[0]!.field}: ${problems[0]!.reason}` : `${problems.length} problems with the request`;
  return new ApiError(400, ApiErrorCode.invalidRequest, `invalid request: ${summary}`, { problems });
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 2;

/**
 * 503 for a failed dependency. The message names the dependency and the error's kind, not the
 * SDK's full text (which carries resource names and request ids that belong in the log).
 */
export function dependencyFailed(what: string, cause: unknown, code: ApiErrorCode = ApiErrorCode.unavailable, message?: string): ApiError {
  const kind = (cause as { name?: string })?.name;
  return new ApiError(503, code, message ?? `${what} is unavailable${kind && kind !== "Error" ? ` (${kind})` : ""}; retry`, {
    headers: { "Retry-After": String(RETRY_AFTER_SECONDS) },
    cause,
  });
}
