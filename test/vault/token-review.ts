/**
 * A minimal Kubernetes API for Vault's Kubernetes auth: `POST
 * /apis/authentication.k8s.io/v1/tokenreviews` over HTTPS, which the real
 * plugin calls at every login (and so does the project's Vault test server). A
 * token is authenticated when its signature (RS256/384/512, PS256, ES256/384)
 * verifies with one of the trusted keys; the answer names the service account
 * and uid of its claims (projected or legacy), as the API server does. Expiry
 * is left to Vault, which checks it on its own clock (the test server's may be
 * moved). Every review is recorded (its token is not).
 */
import { createServer, type Server } from 'node:https';
import { constants, createPublicKey, verify } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { TestPki } from '../helpers/certs.js';

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
  const pki = new TestPki();
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
        ? {
            authenticated: true,
            user: {
              username: `system:serviceaccount:${claims.namespace}:${claims.name}`,
              uid: claims.uid,
              groups: ['system:serviceaccounts', `system:serviceaccounts:${claims.namespace}`],
            },
          }
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

const ALGS: Record<string, { hash: string; pss?: true; ec?: true }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', pss: true },
  ES256: { hash: 'sha256', ec: true },
  ES384: { hash: 'sha384', ec: true },
};

/** The service account of a JWT signed by a trusted key; undefined otherwise. */
function verified(jwt: string, keys: readonly string[]): Claims | undefined {
  const [header, payload, signature] = jwt.split('.');
  if (header === undefined || payload === undefined || signature === undefined) return undefined;
  try {
    const alg = ALGS[String((JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown }).alg)];
    if (alg === undefined) return undefined;
    const signed = Buffer.from(`${header}.${payload}`);
    const sig = Buffer.from(signature, 'base64url');
    const ok = keys.some((pem) => {
      const key = createPublicKey(pem);
      try {
        if (alg.ec) return key.asymmetricKeyType === 'ec' && verify(alg.hash, signed, { key, dsaEncoding: 'ieee-p1363' }, sig);
        if (alg.pss) return verify(alg.hash, signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
        return key.asymmetricKeyType === 'rsa' && verify(alg.hash, signed, key, sig);
      } catch {
        return false;
      }
    });
    if (!ok) return undefined;
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown> & {
      'kubernetes.io'?: { namespace?: string; serviceaccount?: { name?: string; uid?: string } };
    };
    const k8s = c['kubernetes.io'];
    if (k8s?.namespace && k8s.serviceaccount?.name) return { namespace: k8s.namespace, name: k8s.serviceaccount.name, uid: k8s.serviceaccount.uid ?? '' };
    const ns = c['kubernetes.io/serviceaccount/namespace'];
    const name = c['kubernetes.io/serviceaccount/service-account.name'];
    const uid = c['kubernetes.io/serviceaccount/service-account.uid'];
    if (typeof ns === 'string' && typeof name === 'string') return { namespace: ns, name, uid: typeof uid === 'string' ? uid : '' };
    return undefined;
  } catch {
    return undefined;
  }
}
