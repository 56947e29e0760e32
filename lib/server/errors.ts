// The server's errors as the OpenAI API shapes them: { error: { message, type, param, code } } with an HTTP status.
import { ErrorCodes, isRedrafterError } from '../errors.js';

export class ApiError extends Error {
  readonly status: number;
  /** The request field at fault ("messages[1].content", "temperature"), or null. */
  readonly param: string | null;
  readonly code: string | null;
  readonly type: string;

  constructor(status: number, message: string, options: { param?: string | null; code?: string | null; type?: string } = {}) {
    super(message);
    this.status = status;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.type = options.type ?? typeForStatus(status);
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

function typeForStatus(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** A 400 naming `param`. */
export function badRequest(param: string | null, message: string, code: string | null = null): ApiError {
  return new ApiError(400, message, { param, code });
}

/**
 * Any error as the ApiError to answer with: the engine's invalid-argument and context errors are the client's
 * (400), the rest are the server's (500, the message kept: it names what failed).
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isRedrafterError(err)) {
    if (err.code === ErrorCodes.INVALID_ARGUMENT) return badRequest(null, err.message);
    if (err.code === ErrorCodes.CONTEXT_OVERFLOW) return badRequest(null, err.message, 'context_length_exceeded');
    if (err.code === ErrorCodes.DISPOSED) return new ApiError(503, 'the server is shutting down');
  }
  return new ApiError(500, err instanceof Error ? err.message : String(err));
}
