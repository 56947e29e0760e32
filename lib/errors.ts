// The stable error codes native and TypeScript code attach to errors (`err.code`).
export const ErrorCodes = {
  INVALID_ARGUMENT: 'ERR_REDRAFTER_INVALID_ARGUMENT',
  INVALID_MODEL: 'ERR_REDRAFTER_INVALID_MODEL',
  IO: 'ERR_REDRAFTER_IO',
  UNSUPPORTED: 'ERR_REDRAFTER_UNSUPPORTED',
  OUT_OF_MEMORY: 'ERR_REDRAFTER_OUT_OF_MEMORY',
  CONTEXT_OVERFLOW: 'ERR_REDRAFTER_CONTEXT_OVERFLOW',
  ABORTED: 'ERR_REDRAFTER_ABORTED',
  DISPOSED: 'ERR_REDRAFTER_DISPOSED',
  BACKEND: 'ERR_REDRAFTER_BACKEND',
  INTERNAL: 'ERR_REDRAFTER_INTERNAL',
  ADDON_NOT_FOUND: 'ERR_REDRAFTER_ADDON_NOT_FOUND',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface RedrafterError extends Error {
  code: ErrorCode;
}

/** An Error with a stable `code` (the one way TypeScript code makes one; `name` e.g. 'AbortError'). */
export function codedError(code: ErrorCode, message: string, name?: string): RedrafterError {
  const e = new Error(message) as RedrafterError;
  e.code = code;
  if (name !== undefined) e.name = name;
  return e;
}

/** ERR_REDRAFTER_INVALID_MODEL: a model, tokenizer or drafter file is malformed (the message names the file). */
export function invalidModel(message: string): RedrafterError {
  return codedError(ErrorCodes.INVALID_MODEL, message);
}

/** A TypeError (wrong type/shape) or RangeError (out of range) naming `field`, with the invalid-argument code. */
export function invalidArgument(field: string, message: string, kind: 'type' | 'range' = 'type'): RedrafterError {
  const err = (kind === 'range' ? new RangeError(`${field} ${message}`) : new TypeError(`${field} ${message}`)) as
    RedrafterError;
  err.code = ErrorCodes.INVALID_ARGUMENT;
  return err;
}

export function isRedrafterError(value: unknown): value is RedrafterError {
  return value instanceof Error && typeof (value as { code?: unknown }).code === 'string' &&
    (value as unknown as { code: string }).code.startsWith('ERR_REDRAFTER_');
}
