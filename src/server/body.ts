/** Reads a request body within a hard byte limit, without buffering past it. */
import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError } from '../errors.js';

const EMPTY = Buffer.alloc(0);

/** The body, synchronously when the request has none (most reads). @throws PayloadTooLargeError */
export function readBody(req: IncomingMessage, limit: number): Buffer | Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new PayloadTooLargeError();
  if (declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined)) return EMPTY;
  return collect(req, limit);
}

/**
 * The same body handed to `done` instead of a promise: synchronously when the request
 * has none, else from the stream's own events (no promise or async iterator per
 * request), so the dispatcher's fast path can answer in the tick the body completes
 * in. `done` is called exactly once. @throws PayloadTooLargeError (a declared length)
 */
export function readBodyThen(req: IncomingMessage, limit: number, done: (err: unknown, body: Buffer) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw new PayloadTooLargeError();
  if (declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined)) return done(null, EMPTY);
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const settle = (err: unknown) => {
    if (settled) return;
    settled = true;
    req.off('data', onData);
    if (err) done(err, EMPTY);
    else done(null, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) settle(new PayloadTooLargeError());
    else chunks.push(chunk);
  };
  req.on('data', onData);
  req.on('end', () => settle(null));
  // After 'end' these change nothing; before it, the body is incomplete. The error listener stays: an
  // error after the answer must not go unhandled.
  req.on('error', (err) => settle(err));
  // 'close' also comes after every complete request: only make the error (a stack trace) when it is one.
  req.on('close', () => settled || settle(new Error('the connection closed before the request body was complete')));
}

async function collect(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLargeError();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}
