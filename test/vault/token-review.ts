/**
 * A minimal Kubernetes API for Vault's Kubernetes auth: `POST
 * /apis/authentication.k8s.io/v1/tokenreviews` over HTTPS, which the real
 * plugin calls at every login. A token is authenticated when its signature
 * verifies with one of the registered service-account issuers' keys and it
 * has not expired; the answer names the service account and uid of its claims,
 * as the API server does. Every review is recorded (its token is not).
 */
import { createServer, type Server } from 'node:https';
import { verify, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { TestPKI } from '../helpers/certs.js';

export interface TokenReviewServer {
  /** `https://127.0.0.1:<port>` for `kubernetes_host`. */
  readonly url: string;
  /** PEM of the CA that signed the server's certificate, for `kubernetes_ca_cert`. */
  readonly caPem: string;
  /** Trusts JWTs signed with this public key (PEM). */
  trust(publicKeyPem: string): void;
  /** Service accounts ('namespace/name') of the reviews answered so far, authenticated or not. */
  readonly reviews: Array<{ account: string; authenticated: boolean }>;
  close(): Promise<void>;
}

export async function startTokenReviewServer(): Promise<TokenReviewServer> {
  const pki = new TestPKI();
  const keys: string[] = [];
  const reviews: Array<{ account: string; authenticated: boolean }> = [];
  const server: Server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"kind":"Status","status":"Failure","code":404}');
        return;
      }
      let token = '';
      try {
        token = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: { token?: unknown } }).spec?.token ?? '');
      } catch {
        // An unparsable review is answered as unauthenticated below.
      }
      const claims = verified(token, keys);
      const account = claims ? `${claims.namespace}/${claims.name}` : '';
      reviews.push({ account, authenticated: claims !== undefined });
      const status = claims
        ? { authenticated: true, user: { username: `system:serviceaccount:${claims.namespace}:${claims.name}`, uid: claims.uid, groups: ['system:serviceaccounts', `system:serviceaccounts:${claims.namespace}`] } }
        : { authenticated: false, error: 'invalid bearer token' };
      res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    caPem: pki.ca.certPem,
    trust: (pem) => void keys.push(pem),
    reviews,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

interface Claims {
  namespace: string;
  name: string;
  uid: string;
}

/** The service account of an ES256 JWT signed by a trusted key and not expired; undefined otherwise. */
function verified(jwt: string, keys: readonly string[]): Claims | undefined {
  const [header, payload, signature] = jwt.split('.');
  if (header === undefined || payload === undefined || signature === undefined) return undefined;
  const signed = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  if (!keys.some((pem) => verify('sha256', signed, { key: createPublicKey(pem), dsaEncoding: 'ieee-p1363' }, sig))) return undefined;
  try {
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      exp?: number;
      'kubernetes.io'?: { namespace?: string; serviceaccount?: { name?: string; uid?: string } };
    };
    const k8s = c['kubernetes.io'];
    if (typeof c.exp !== 'number' || c.exp * 1000 < Date.now() || !k8s?.namespace || !k8s.serviceaccount?.name) return undefined;
    return { namespace: k8s.namespace, name: k8s.serviceaccount.name, uid: k8s.serviceaccount.uid ?? '' };
  } catch {
    return undefined;
  }
}
