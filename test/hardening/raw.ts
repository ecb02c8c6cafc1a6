/**
 * A raw HTTP/1.1 client over TLS for attack tests: the request line, headers and
 * body go out byte for byte as given (no URL normalization, no header checks),
 * and the answer is parsed by hand. TLS sessions are resumed per credential so
 * thousands of cases do not each pay a full handshake.
 */
import tls from 'node:tls';

export interface Peer {
  port: number;
  ca: string;
  /** Client certificate and key (PEM); none for anonymous requests. */
  cert?: string;
  key?: string;
}

export interface RawResponse {
  /** 0 when the server closed the connection without an HTTP answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
}

const sessions = new Map<string, Buffer>();

/**
 * Sends `request` (a whole HTTP request, or its head when `body` streams separately)
 * and resolves with the parsed answer once the server closes the connection.
 * Write errors after the server answered (it may refuse a body early) are ignored.
 */
export function rawRequest(peer: Peer, request: Buffer | string, options: { timeoutMs?: number; body?: Buffer } = {}): Promise<RawResponse> {
  const sessionKey = `${peer.port}|${peer.cert ?? ''}`;
  const session = sessions.get(sessionKey);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: peer.port,
      servername: 'localhost',
      ca: peer.ca,
      ...(peer.cert !== undefined ? { cert: peer.cert, key: peer.key } : {}),
      ...(session ? { session } : {}),
    });
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`raw request timed out: ${String(request).slice(0, 80)}`)), options.timeoutMs ?? 10_000);
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(parseResponse(Buffer.concat(chunks)));
    };
    socket.on('session', (s: Buffer) => sessions.set(sessionKey, s));
    socket.once('secureConnect', () => {
      socket.write(request);
      if (options.body) socket.end(options.body);
      else socket.end();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may answer and close while we still write (413, 431): the answer counts.
      if (chunks.length > 0 || err.code === 'ECONNRESET' || err.code === 'EPIPE') finish();
      else finish(err);
    });
    socket.on('close', () => finish());
  });
}

/** Parses `HTTP/1.1 <status> …` headers and body (Content-Length or until close). */
export function parseResponse(raw: Buffer): RawResponse {
  const text = raw.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  if (!text.startsWith('HTTP/1.1 ') || end < 0) return { status: 0, headers: {}, body: text };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) body = Buffer.from(body).subarray(0, Number(length)).toString('utf8');
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/** A request head: request line with the target exactly as given, Host, Connection: close, extra headers. */
export function head(method: string, target: string, headers: Record<string, string> = {}): string {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: localhost', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** A whole request with a body and its Content-Length. */
export function withBody(method: string, target: string, body: Buffer | string, headers: Record<string, string> = {}): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(head(method, target, { 'Content-Type': 'application/json', 'Content-Length': String(b.length), ...headers })), b]);
}
