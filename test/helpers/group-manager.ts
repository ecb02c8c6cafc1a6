/**
 * A group manager for tests, as RKS's mock (rks.md §4.4) but stricter: a real
 * HTTPS server with an OAuth token endpoint that checks the credentials in the
 * mode the group uses, and a callback `GET /callback/nodes/<id>` that checks
 * the bearer token and answers as the test says.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCA, issueCertificate } from '../../src/pki/index.js';

export type Behaviour = 'allow' | 'refuse' | 'unknown' | 'hang' | number;

export interface OAuthRequest {
  query: URLSearchParams;
  authorization: string;
  contentType: string | undefined;
  body: string;
}

export interface GroupManagerOptions {
  /** Serve a self-signed certificate instead of one from the manager's CA. */
  selfSigned?: boolean;
  mode?: 'rks' | 'form';
  clientId?: string;
  clientSecret?: string;
  /** Seconds; omitted from the answer when null. */
  expiresIn?: number | null;
}

export interface GroupManager {
  url: string;
  oauthUrl: string;
  callbackUrl: string;
  /** The CA that signed the server certificate (PEM). */
  caPem: string;
  clientId: string;
  clientSecret: string;
  /** The access tokens issued so far, newest last. */
  issued: string[];
  oauthRequests: OAuthRequest[];
  callbacks: Array<{ nodeId: string; authorization: string }>;
  /** Every request received, as method and raw request target (what a URL parser made of the URL). */
  requests: Array<{ method: string; target: string }>;
  behaviour: (nodeId: string) => Behaviour;
  /** Makes the callback refuse every token issued so far (as if the manager revoked them). */
  revokeIssued(): void;
  close(): Promise<void>;
}

export async function startGroupManager(options: GroupManagerOptions = {}): Promise<GroupManager> {
  const ca = createCA('group manager test CA');
  const names = { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], extKeyUsage: ['serverAuth' as const] };
  const cert = issueCertificate(options.selfSigned ? null : ca, names);
  const revoked = new Set<string>();
  const gm: GroupManager = {
    url: '',
    oauthUrl: '',
    callbackUrl: '',
    caPem: ca.certPem,
    clientId: options.clientId ?? 'f146c93f-00af-42a2-9667-8c0d99b37953',
    clientSecret: options.clientSecret ?? 'manager-secret-' + Math.random().toString(36).slice(2),
    issued: [],
    oauthRequests: [],
    callbacks: [],
    requests: [],
    behaviour: () => 'allow',
    revokeIssued: () => gm.issued.forEach((t) => revoked.add(t)),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    gm.requests.push({ method: req.method ?? '', target: req.url ?? '' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => route(gm, options, revoked, req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  gm.url = `https://localhost:${(server.address() as AddressInfo).port}`;
  gm.oauthUrl = `${gm.url}/api/identity/oauth/token`;
  gm.callbackUrl = `${gm.url}/callback/nodes`;
  return gm;
}

function route(gm: GroupManager, options: GroupManagerOptions, revoked: Set<string>, req: IncomingMessage, res: ServerResponse, body: string): void {
  const url = new URL(req.url ?? '/', 'https://x');
  if (req.method === 'POST' && url.pathname === '/api/identity/oauth/token') return token(gm, options, req, res, url, body);
  const m = /^\/callback\/nodes\/(.+)$/.exec(url.pathname);
  if (req.method !== 'GET' || !m) return end(res, 404, '');
  const nodeId = decodeURIComponent(m[1] as string);
  const authorization = req.headers.authorization ?? '';
  gm.callbacks.push({ nodeId, authorization });
  const bearer = authorization.startsWith('Bearer ') ? authorization.slice(7) : '';
  if (!gm.issued.includes(bearer) || revoked.has(bearer)) return end(res, 401, '');
  const b = gm.behaviour(nodeId);
  if (b === 'hang') return;
  const status = b === 'allow' ? 200 : b === 'refuse' ? 403 : b === 'unknown' ? 404 : b;
  end(res, status, status === 200 ? '{"entityId":1}' : '');
}

function token(gm: GroupManager, options: GroupManagerOptions, req: IncomingMessage, res: ServerResponse, url: URL, body: string): void {
  const authorization = req.headers.authorization ?? '';
  gm.oauthRequests.push({ query: url.searchParams, authorization, contentType: req.headers['content-type'], body });
  const form = (v: string) => new URLSearchParams({ v }).toString().slice(2);
  const ok =
    (options.mode ?? 'rks') === 'rks'
      ? authorization === 'Basic ' + Buffer.from(`${gm.clientId}:${gm.clientSecret}`).toString('base64') &&
        url.searchParams.get('client_id') === gm.clientId &&
        url.searchParams.get('client_secret') === gm.clientSecret &&
        url.searchParams.get('grant_type') === 'client_credentials' &&
        body === '' &&
        req.headers['content-type'] === undefined
      : authorization === 'Basic ' + Buffer.from(`${form(gm.clientId)}:${form(gm.clientSecret)}`).toString('base64') &&
        req.headers['content-type'] === 'application/x-www-form-urlencoded' &&
        new URLSearchParams(body).get('grant_type') === 'client_credentials' &&
        !url.search;
  if (!ok) return end(res, 401, '{"error":"invalid_client"}');
  const access = 'access-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  gm.issued.push(access);
  const answer: Record<string, unknown> = { access_token: access, token_type: 'bearer', jti: 'x' };
  if (options.expiresIn !== null) answer['expires_in'] = options.expiresIn ?? 3599;
  end(res, 200, JSON.stringify(answer));
}

function end(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
