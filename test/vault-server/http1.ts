/**
 * A minimal HTTP/1.1 server over net/tls sockets. It exists because Node's
 * built-in parser (llhttp) only knows a fixed list of methods and answers
 * Vault's `LIST` verb with 400 before any handler runs.
 * Supports keep-alive, pipelining (sequentially), Content-Length and chunked
 * request bodies, `Expect: 100-continue`, and HEAD.
 */
import { STATUS_CODES } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

export interface RawRequest {
  method: string;
  url: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  remoteAddress: string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | number>;
  body: string;
}

/** `'drop'` destroys the connection without answering. */
export type RawHandler = (req: RawRequest) => Promise<RawResponse | 'drop'>;

const MAX_HEADER = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

class ParseError extends Error {
  constructor(
    readonly status: number,
    msg: string,
  ) {
    super(msg);
  }
}

interface Head {
  method: string;
  url: string;
  version: string;
  headers: Record<string, string>;
  bodyStart: number;
}

function parseHead(buf: Buffer): Head | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length > MAX_HEADER) throw new ParseError(431, 'Request Header Fields Too Large');
    return undefined;
  }
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  // Tolerate stray CRLFs between pipelined requests (RFC 9112 §2.2).
  while (lines[0] === '') lines.shift();
  const [method, url, version] = (lines.shift() ?? '').split(' ');
  if (!method || !TOKEN.test(method) || !url || !version || !/^HTTP\/1\.[01]$/.test(version)) throw new ParseError(400, 'Bad Request');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ParseError(400, 'Bad Request');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, url, version, headers, bodyStart: end + 4 };
}

/** Decodes a complete chunked body starting at `from`; undefined when more bytes are needed. */
function parseChunked(buf: Buffer, from: number, max: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let pos = from;
  let total = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (Number.isNaN(size)) throw new ParseError(400, 'Bad Request');
    total += size;
    if (total > max) throw new ParseError(413, 'too large');
    pos = eol + 2;
    if (size === 0) {
      // Skip trailers up to the empty line.
      for (;;) {
        const t = buf.indexOf('\r\n', pos);
        if (t < 0) return undefined;
        const empty = t === pos;
        pos = t + 2;
        if (empty) return { body: Buffer.concat(parts), end: pos };
      }
    }
    if (buf.length < pos + size + 2) return undefined;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

export interface Http1Server {
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export function createHttp1Server(
  handler: RawHandler,
  opts: { tls?: { cert: string; key: string }; maxBody: number; onTooLarge: () => RawResponse },
): Http1Server {
  const sockets = new Set<net.Socket>();

  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    // Idle keep-alive connections must not pin the process.
    socket.setTimeout(30_000, () => socket.destroy());
    let buf: Buffer = Buffer.alloc(0);
    // Chunks are only joined once a waited-for body is complete, so big uploads stay linear.
    let parts: Buffer[] = [];
    let partsLen = 0;
    let need = 0;
    let busy = false;
    let continued = false;
    // After a Connection: close answer, further bytes (e.g. the rest of an oversized body) are discarded.
    let closing = false;

    const write = (req: { method: string; version: string } | undefined, r: RawResponse, close: boolean): void => {
      if (socket.destroyed) return;
      const reason = STATUS_CODES[r.status] ?? `status code ${r.status}`;
      let head = `HTTP/1.1 ${r.status} ${reason}\r\n`;
      for (const [k, v] of Object.entries(r.headers)) head += `${k}: ${v}\r\n`;
      head += `Date: ${new Date().toUTCString()}\r\n`;
      const noBody = r.status === 204 || r.status === 304 || r.status < 200;
      if (!noBody) head += `Content-Length: ${Buffer.byteLength(r.body)}\r\n`;
      if (close) {
        head += 'Connection: close\r\n';
        closing = true;
      }
      head += '\r\n';
      socket.write(noBody || req?.method === 'HEAD' ? head : head + r.body);
      if (close) socket.end();
    };

    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (!socket.destroyed && !closing) {
          let head: Head | undefined;
          try {
            head = parseHead(buf);
          } catch (e) {
            const pe = e as ParseError;
            write(undefined, { status: pe.status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: `${pe.status} ${pe.message}` }, true);
            return;
          }
          if (!head) return;
          const te = (head.headers['transfer-encoding'] ?? '').toLowerCase();
          let body: Buffer;
          let end: number;
          try {
            if (te.includes('chunked')) {
              if (head.headers['expect']?.toLowerCase() === '100-continue' && !continued) {
                continued = true;
                socket.write('HTTP/1.1 100 Continue\r\n\r\n');
              }
              const c = parseChunked(buf, head.bodyStart, opts.maxBody);
              if (!c) return;
              ({ body, end } = c);
            } else {
              const len = Number(head.headers['content-length'] ?? '0');
              if (!Number.isInteger(len) || len < 0) throw new ParseError(400, 'Bad Request');
              if (len > opts.maxBody) throw new ParseError(413, 'too large');
              if (len > 0 && head.headers['expect']?.toLowerCase() === '100-continue' && !continued) {
                continued = true;
                socket.write('HTTP/1.1 100 Continue\r\n\r\n');
              }
              if (buf.length < head.bodyStart + len) {
                need = head.bodyStart + len;
                return;
              }
              body = buf.subarray(head.bodyStart, head.bodyStart + len);
              end = head.bodyStart + len;
            }
          } catch (e) {
            const pe = e as ParseError;
            if (pe.status === 413) write(head, opts.onTooLarge(), true);
            else write(head, { status: pe.status, headers: {}, body: '' }, true);
            return;
          }
          buf = buf.subarray(end);
          need = 0;
          continued = false;
          const conn = (head.headers['connection'] ?? '').toLowerCase();
          const close = conn.includes('close') || (head.version === 'HTTP/1.0' && !conn.includes('keep-alive'));
          const res = await handler({
            method: head.method,
            url: head.url,
            headers: head.headers,
            body: Buffer.from(body),
            remoteAddress: socket.remoteAddress ?? '',
          });
          if (res === 'drop') {
            socket.destroy();
            return;
          }
          write(head, res, close);
          if (close) return;
        }
      } finally {
        busy = false;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (closing) return;
      parts.push(chunk);
      partsLen += chunk.length;
      if (buf.length + partsLen < need) return;
      buf = Buffer.concat([buf, ...parts]);
      parts = [];
      partsLen = 0;
      void pump().then(() => {
        // Data that arrived while a handler was running is processed now.
        if (buf.length && !socket.destroyed) void pump();
      });
    });
  };

  const server = opts.tls ? tls.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onConnection) : net.createServer(onConnection);
  if (opts.tls) server.on('tlsClientError', (_err, socket) => socket.destroy());

  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as net.AddressInfo).port);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
