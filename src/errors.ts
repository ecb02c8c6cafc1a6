/**
 * The error classes every layer throws. Each carries the HTTP status and the
 * stable, client-safe message the API answers with; `cause` keeps the detail
 * (a Vault URL, an errno) for the error log only, never for the client.
 *
 * This module imports nothing: keystore adapters, core services and handlers
 * all share it.
 */
export class KeygateError extends Error {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** Stable machine-readable code (also used by tests and metrics). */
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
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
  constructor(message: string, options?: { cause?: unknown }) {
    super(400, 'bad_request', message, options);
  }
}

/**
 * 400: the request body is not the JSON it must be (malformed, or nested too deep). A class of
 * its own so the dispatcher can count these as failed requests on unauthenticated routes:
 * a body that is refused before anything else looks at it still cost a parse.
 */
export class BodyDecodeError extends BadRequestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** 401/403: the caller may not do this. */
export class NotAuthorizedError extends KeygateError {
  constructor(message = 'not authorized: insufficient permissions', status = 403) {
    super(status, 'not_authorized', message);
  }
}

/** 404: the named thing does not exist. */
export class NotFoundError extends KeygateError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

/** 400 (KES) or 409: the named thing already exists. */
export class ExistsError extends KeygateError {
  constructor(message: string, status = 400) {
    super(status, 'exists', message);
  }
}

/** 409: a conditional update lost against a newer version. */
export class ConflictError extends KeygateError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}

/** 405 with the method the route expects. */
export class MethodNotAllowedError extends KeygateError {
  readonly allow: string;
  constructor(method: string, allow: string) {
    super(405, 'method_not_allowed', `received method '${method}' expected '${allow}'`);
    this.allow = allow;
  }
}

/** 413: the request body is larger than the route allows. */
export class PayloadTooLargeError extends KeygateError {
  constructor(message = 'request body too large') {
    super(413, 'payload_too_large', message);
  }
}

/** 429: the caller failed too often; `retryAfterSeconds` goes into Retry-After. */
export class TooManyRequestsError extends KeygateError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'too_many_requests', 'too many failed authentications: try again later');
  }
}

/** 406: a well-formed request asks for something unsupported (e.g. a cipher). */
export class NotAcceptableError extends KeygateError {
  constructor(message: string) {
    super(406, 'not_acceptable', message);
  }
}

/**
 * 502/503/504: the keystore (or another backend) failed or is unreachable.
 * The message is generic; the backend's detail stays in `cause`.
 */
export class UnavailableError extends KeygateError {
  constructor(message: string, status: 502 | 503 | 504 = 502, options?: { cause?: unknown }) {
    super(status, 'unavailable', message, options);
  }
}

/** 500: a bug or an internal failure; the client sees only the message. */
export class InternalError extends KeygateError {
  constructor(message = 'internal server error', options?: { cause?: unknown }) {
    super(500, 'internal', message, options);
  }
}

/** Configuration problems found at start-up or reload (never sent to clients). */
export class ConfigError extends Error {
  override get name(): string {
    return 'ConfigError';
  }
}
