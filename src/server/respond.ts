/**
 * The one place responses and errors are written. Handlers throw; this module
 * turns every error into the surface's JSON shape and never leaks the cause.
 */
import type { ServerResponse } from 'node:http';
import { KeygateError, MethodNotAllowedError, TooManyRequestsError } from '../errors.js';
import type { Reply } from './route.js';

export function writeReply(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.writableEnded) return;
  if (reply === undefined) {
    res.writeHead(200, { 'Content-Length': '0' });
    res.end();
    return;
  }
  if ('streamed' in reply) return;
  if ('json' in reply) {
    const body = JSON.stringify(reply.json);
    res.writeHead(reply.status ?? 200, {
      ...reply.headers,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
    });
    res.end(body);
    return;
  }
  res.writeHead(reply.status ?? 200, {
    ...reply.headers,
    'Content-Type': reply.contentType,
    'Content-Length': String(Buffer.byteLength(reply.text)),
  });
  res.end(reply.text);
}

/** Status and client-safe message of any thrown value; unknown errors become a bare 500. */
export function errorStatus(err: unknown): { status: number; message: string } {
  if (err instanceof KeygateError) return { status: err.status, message: err.message };
  return { status: 500, message: 'internal server error' };
}

/**
 * Writes an error in the surface's shape: `{"message": …}` JSON (KES and keygate),
 * or a plain-text line (RKS, whose clients compare those bodies).
 */
export function writeError(res: ServerResponse, err: unknown, close = false, format: 'json' | 'text' = 'json'): number {
  const { status, message } = errorStatus(err);
  if (res.headersSent || res.writableEnded) {
    res.destroy();
    return status;
  }
  const headers: Record<string, string> = {};
  if (err instanceof MethodNotAllowedError) {
    headers['Allow'] = err.allow;
    headers['Accept'] = err.allow;
  }
  if (err instanceof TooManyRequestsError) headers['Retry-After'] = String(err.retryAfterSeconds);
  if (close) headers['Connection'] = 'close';
  if (format === 'text') {
    headers['X-Content-Type-Options'] = 'nosniff';
    writeReply(res, { status, text: message + '\n', contentType: 'text/plain; charset=utf-8', headers });
  } else {
    writeReply(res, { status, json: { message }, headers });
  }
  return status;
}
