/**
 * The one place responses and errors are written. Handlers throw; this module
 * turns every error into the surface's JSON shape and never leaks the cause.
 */
import type { ServerResponse } from 'node:http';
import { KeygateError, MethodNotAllowedError, TooManyRequestsError, type ErrorCode } from '../errors.js';
import { ERROR_CODE_HEADER } from '../error-codes.js';
import type { Reply } from './route.js';

export function writeReply(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.writableEnded) return;
  if (reply === undefined) {
    res.writeHead(200, EMPTY_REPLY_HEADERS);
    res.end();
    return;
  }
  if ('streamed' in reply) return;
  let body: Buffer | string;
  let contentType: string;
  if ('json' in reply) {
    body = JSON.stringify(reply.json);
    contentType = 'application/json';
  } else if ('text' in reply) {
    body = reply.text;
    contentType = reply.contentType;
  } else {
    body = reply.body;
    contentType = reply.contentType;
  }
  // A flat [name, value, …] list: node writes it as is, without building a header map per response.
  const headers: string[] = [];
  if (reply.headers) for (const name in reply.headers) headers.push(name, reply.headers[name] as string);
  headers.push('Content-Type', contentType, 'Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length));
  res.writeHead(reply.status ?? 200, headers);
  res.end(body);
}

const EMPTY_REPLY_HEADERS = ['Content-Length', '0'];

/** Status, client-safe message and catalogue code of any thrown value; unknown errors become a bare 500. */
export function errorStatus(err: unknown): { status: number; message: string; code: ErrorCode } {
  if (err instanceof KeygateError) return { status: err.status, message: err.message, code: err.code };
  return { status: 500, message: 'internal server error', code: 'INTERNAL' };
}

/**
 * Writes an error in the surface's shape: `{"message": …}` JSON (KES and keygate),
 * or a plain-text line (RKS, whose clients compare those bodies). Either way the
 * catalogue's code goes in the `Keygate-Error-Code` header, never in the body (which
 * KES and RKS clients compare byte for byte): what keygate's own clients decide on.
 */
export function writeError(res: ServerResponse, err: unknown, close = false, format: 'json' | 'text' = 'json'): number {
  const { status, message, code } = errorStatus(err);
  if (res.headersSent || res.writableEnded) {
    res.destroy();
    return status;
  }
  const headers: Record<string, string> = { [ERROR_CODE_HEADER]: code };
  if (err instanceof MethodNotAllowedError) {
    headers['Allow'] = err.allow;
    headers['Accept'] = err.allow;
  }
  if (err instanceof TooManyRequestsError) headers['Retry-After'] = String(err.retryAfterSeconds);
  if (err instanceof KeygateError && err.headers !== undefined) Object.assign(headers, err.headers);
  if (close) headers['Connection'] = 'close';
  if (format === 'text') {
    headers['X-Content-Type-Options'] = 'nosniff';
    writeReply(res, { status, text: message + '\n', contentType: 'text/plain; charset=utf-8', headers });
  } else {
    writeReply(res, { status, json: { message }, headers });
  }
  return status;
}
