/**
 * The generator's HTTP/1.1 over TLS, kept to the minimum so the generator
 * costs less CPU than the servers it measures: requests are pre-built bytes,
 * responses are parsed just enough to find the status and the body.
 */
import type { RequestSpec } from './loadgen-types.js';

export interface Response {
  status: number;
  body: Buffer;
  /** The server announced it closes the connection after this response. */
  close: boolean;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** The request's bytes; a `{i}` in the path becomes a random index below `pathCount`. */
export function requestBytes(spec: RequestSpec, host: string, close: boolean): Buffer {
  const path = spec.pathCount ? spec.path.replace('{i}', String(Math.floor(Math.random() * spec.pathCount))) : spec.path;
  const body = spec.body ?? '';
  let head = `${spec.method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  if (close) head += 'Connection: close\r\n';
  for (const [name, value] of Object.entries(spec.headers ?? {})) head += `${name}: ${value}\r\n`;
  if (spec.method !== 'GET') head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(head + '\r\n' + body);
}

/**
 * Collects the bytes of one response at a time (one request in flight per
 * connection). Only Content-Length framing is supported: every server under
 * test answers that way; anything else is reported as an error.
 */
export class ResponseReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private bodyStart = -1;
  private bodyLength = 0;
  private status = 0;
  private close = false;

  /** Adds bytes; returns the response once complete. @throws Error on framing the reader does not support. */
  push(chunk: Buffer): Response | null {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.bodyStart < 0 && !this.parseHead()) return null;
    const end = this.bodyStart + this.bodyLength;
    if (this.size < end) return null;
    const all = this.joined();
    if (this.size > end) throw new Error(`generator: ${this.size - end} unexpected bytes after a response`);
    const response = { status: this.status, body: all.subarray(this.bodyStart, end), close: this.close };
    this.reset();
    return response;
  }

  reset(): void {
    this.chunks = [];
    this.size = 0;
    this.bodyStart = -1;
  }

  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] as Buffer;
  }

  private parseHead(): boolean {
    const all = this.joined();
    const cut = all.indexOf(HEAD_END);
    if (cut < 0) return false;
    const head = all.toString('latin1', 0, cut).toLowerCase();
    this.status = Number(head.slice(9, 12));
    const at = head.indexOf('\r\ncontent-length:');
    if (at < 0) throw new Error(`generator: response ${this.status} without Content-Length`);
    this.bodyLength = parseInt(head.slice(at + 17), 10);
    this.close = head.includes('\r\nconnection: close');
    this.bodyStart = cut + 4;
    return true;
  }
}
