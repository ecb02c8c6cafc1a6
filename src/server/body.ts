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
