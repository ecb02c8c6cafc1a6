/**
 * The error classes every layer throws. Each carries the HTTP status and the
 * stable, client-safe message the API answers with; `cause` keeps the detail
 * (a Vault URL, an errno) for the error log only, never for the client.
 *
 * Each error's `code` names its entry in the catalogue (error-codes.ts); `coded()` makes
 * the error of an entry. This module imports only the catalogue: keystore adapters, core
 * services and handlers all share it.
 */
import { ERROR_CODES, errorMessage, type ErrorCode } from './error-codes.js';

export { ERROR_CODES, type ErrorCode } from './error-codes.js';

export class KeygateError extends Error {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** Stable named code from the catalogue (error-codes.ts); what code compares, never the message. */
  readonly code: ErrorCode;
  /** Headers the error answer carries as well (a Set-Cookie that clears a dead dashboard session). */
  declare readonly headers?: Readonly<Record<string, string>>;

  constructor(status: number, code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** 400: the request is malformed or names something invalid. */
export class BadRequestError extends KeygateError {
  /** The request field the message begins with (`certificate: …`, `callback_url must …`), if it names one. */
  readonly field?: string;

  constructor(message: string, options?: { cause?: unknown; code?: ErrorCode; field?: string }) {
    super(400, options?.code ?? 'INVALID_REQUEST', message, options);
    if (options?.field !== undefined) this.field = options.field;
  }
}

/**
 * 400: the request body is not the JSON it must be (malformed, or nested too deep). A class of
 * its own so the dispatcher can count these as failed requests on unauthenticated routes:
 * a body that is refused before anything else looks at it still cost a parse.
 */
export class BodyDecodeError extends BadRequestError {
  constructor(message: string, options?: { cause?: unknown; code?: ErrorCode }) {
    super(message, { code: 'INVALID_BODY', ...options });
  }
}

/** 401/403: the caller may not do this. */
export class NotAuthorizedError extends KeygateError {
  /** Without a message: NOT_AUTHORIZED; with one and no code: ACCESS_DENIED (the site's own words). */
  constructor(message?: string, status = 403, code?: ErrorCode) {
    super(status, code ?? (message === undefined ? 'NOT_AUTHORIZED' : 'ACCESS_DENIED'), message ?? ERROR_CODES.NOT_AUTHORIZED.message);
  }
}

/** 404: the named thing does not exist. */
export class NotFoundError extends KeygateError {
  constructor(message: string, code: ErrorCode = 'NOT_FOUND') {
    super(404, code, message);
  }
}

/** 400 (KES) or 409: the named thing already exists. */
export class ExistsError extends KeygateError {
  constructor(message: string, status = 400, code: ErrorCode = 'ALREADY_EXISTS') {
    super(status, code, message);
  }
}

/** 409: a conditional update lost against a newer version. */
export class ConflictError extends KeygateError {
  constructor(message: string, code: ErrorCode = 'CONFLICT') {
    super(409, code, message);
  }
}

/** 405 with the method the route expects. */
export class MethodNotAllowedError extends KeygateError {
  readonly allow: string;
  constructor(method: string, allow: string) {
    super(405, 'METHOD_NOT_ALLOWED', errorMessage('METHOD_NOT_ALLOWED', [method, allow]));
    this.allow = allow;
  }
}

/** 413: the request body is larger than the route allows. */
export class PayloadTooLargeError extends KeygateError {
  constructor() {
    super(413, 'PAYLOAD_TOO_LARGE', ERROR_CODES.PAYLOAD_TOO_LARGE.message);
  }
}

/** 429: the caller failed too often; `retryAfterSeconds` goes into Retry-After. */
export class TooManyRequestsError extends KeygateError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'TOO_MANY_FAILURES', ERROR_CODES.TOO_MANY_FAILURES.message);
  }
}

/** 406: a well-formed request asks for something unsupported (e.g. a cipher). */
export class NotAcceptableError extends KeygateError {
  constructor(message: string, code: ErrorCode = 'NOT_ACCEPTABLE') {
    super(406, code, message);
  }
}

/**
 * 502/503/504: the keystore (or another backend) failed or is unreachable.
 * The message is generic; the backend's detail stays in `cause`.
 */
export class UnavailableError extends KeygateError {
  constructor(message: string, status: 502 | 503 | 504 = 502, options?: { cause?: unknown; code?: ErrorCode }) {
    super(status, options?.code ?? 'UNAVAILABLE', message, options);
  }
}

/**
 * The error of a catalogue entry: the class its `kind` names, its status, and its message
 * (the template filled with `args`), e.g. `throw coded('GROUP_NOT_FOUND')`.
 */
export function coded(code: ErrorCode, args: readonly (string | number)[] = [], options?: { cause?: unknown }): KeygateError {
  const { status, kind } = ERROR_CODES[code];
  const message = errorMessage(code, args);
  switch (kind) {
    case 'BadRequest':
      return new BadRequestError(message, { ...options, code });
    case 'BodyDecode':
      return new BodyDecodeError(message, { ...options, code });
    case 'NotAuthorized':
      return new NotAuthorizedError(message, status, code);
    case 'NotFound':
      return new NotFoundError(message, code);
    case 'Exists':
      return new ExistsError(message, status, code);
    case 'Conflict':
      return new ConflictError(message, code);
    case 'NotAcceptable':
      return new NotAcceptableError(message, code);
    case 'Unavailable':
      return new UnavailableError(message, status as 502 | 503 | 504, { ...options, code });
    case 'Plain':
      return new KeygateError(status, code, message, options);
  }
}

/** Configuration problems found at start-up or reload (never sent to clients). */
export class ConfigError extends Error {
  override get name(): string {
    return 'ConfigError';
  }
}
