/** A minimal mTLS HTTP client for tests: every request on a fresh or shared agent. */
import https from 'node:https';

export interface Credentials {
  certPem?: string;
  keyPem?: string;
}

export interface TestResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  raw?: Buffer | string;
  headers?: Record<string, string>;
  agent?: https.Agent;
}

export function request(base: string, caPem: string, who: Credentials | null, path: string, opts: RequestOptions = {}): Promise<TestResponse> {
  const payload = opts.raw !== undefined ? Buffer.from(opts.raw) : opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined;
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        ca: caPem,
        ...(who?.certPem ? { cert: who.certPem, key: who.keyPem } : {}),
        agent: opts.agent ?? false,
        headers: { ...(payload ? { 'Content-Length': String(payload.length) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
