/**
 * Errors are typed values: every failure a client can see is an AppError with a stable
 * machine-readable `code` and the HTTP status README "API" lists for it. They are mapped to HTTP in
 * exactly one place (`errorHandler` in shared/http.ts).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  /** True when the same request may succeed later (the client or an outbox should retry). */
  readonly retryable: boolean;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(opts: {
    code: string;
    status: number;
    message: string;
    retryable?: boolean;
    headers?: Record<string, string>;
    cause?: unknown;
  }) {
    super(opts.message, { cause: opts.cause });
    this.name = 'AppError';
    this.code = opts.code;
    this.status = opts.status;
    this.retryable = opts.retryable ?? false;
    this.headers = opts.headers ?? {};
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** The catalog: one factory per kind of failure, so codes stay consistent across binaries. */
export const errors = {
  badRequest: (code: string, message: string, cause?: unknown) => new AppError({ code, status: 400, message, cause }),
  unauthorized: (code: string, message: string, cause?: unknown) => new AppError({ code, status: 401, message, cause }),
  forbidden: (code: string, message: string) => new AppError({ code, status: 403, message }),
  notFound: (code: string, message: string) => new AppError({ code, status: 404, message }),
  conflict: (code: string, message: string) => new AppError({ code, status: 409, message }),
  /** The thing asked for is past its lifetime and will never be accepted again (an outbox drops it). */
  gone: (code: string, message: string) => new AppError({ code, status: 410, message }),
  tooLarge: (message: string) => new AppError({ code: 'too_large', status: 413, message }),
  unsupportedType: (message: string) => new AppError({ code: 'unsupported_type', status: 415, message }),
  checksumMismatch: (message: string) => new AppError({ code: 'checksum_mismatch', status: 422, message }),
  rateLimited: (retryAfterSeconds: number) =>
    new AppError({
      code: 'rate_limited',
      status: 429,
      message: `too many requests, retry in ${retryAfterSeconds} s`,
      retryable: true,
      headers: { 'retry-after': String(retryAfterSeconds) },
    }),
  unavailable: (code: string, message: string, cause?: unknown) => new AppError({ code, status: 503, message, retryable: true, cause }),
  insufficientStorage: (message: string) => new AppError({ code: 'insufficient_storage', status: 507, message, retryable: true }),
  internal: (message: string, cause?: unknown) => new AppError({ code: 'internal', status: 500, message, retryable: true, cause }),
} as const;
