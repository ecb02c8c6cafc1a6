/**
 * A tiny real HTTPS issuer for the agent's `certificates:` tests: the wire shapes of
 * issue 15 (`PUT /v1/pki/sign/<role>`, `PUT /v1/pki/revoke`, `GET /v1/pki/ca`) and
 * the node registration the agent authenticates with, signed with node:crypto by an
 * intermediate CA under a root made here. Deliberately small and strict: it verifies
 * the CSR's signature (src/pki/csr.ts), checks the names against the role, and records what it saw
 * so tests can check that no private key ever travels.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { X509Certificate, randomBytes } from 'node:crypto';
import { parseDuration } from '../../src/config/duration.js';
import { createCA, createCertificate, generateKeyPair, type IssuedCertificate } from '../../src/pki/index.js';
import { parseCsr, type ParsedCsr } from '../../src/pki/csr.js';
import { normalSerial } from '../../src/agent/issue.js';
import type { TestPki } from '../helpers/certs.js';

export interface Role {
  /** Every requested DNS name must end with this suffix. */
  suffix: string;
  maxTtlMs: number;
}

export interface RequestSeen {
  method: string;
  path: string;
  body: string;
  authorization: string;
}

export type Fault = 'none' | 'unavailable' | 'wrong-key' | 'wrong-serial' | 'expired' | 'garbage';

export class TestIssuer {
  readonly root: IssuedCertificate = createCA('agent test root CA');
  readonly intermediate: IssuedCertificate;
  readonly seen: RequestSeen[] = [];
  /** Serial → what was signed, in order. */
  readonly signed = new Map<string, { role: string; names: string[]; notAfter: Date; ttl: string }>();
  readonly revoked: string[] = [];
  readonly roles = new Map<string, Role>();
  fault: Fault = 'none';
  /** Seconds a node token lives: long by default, so renewals of the token do not hide a refusal of the certificate request. */
  tokenTtl = 86_400;
  /** Node tokens the issuer accepts: token → node id. */
  private readonly tokens = new Map<string, string>();
  private server: https.Server | null = null;
  port = 0;

  constructor(
    private readonly pki: TestPki,
    private readonly opts: { groupToken: string; now: () => number },
  ) {
    const { privateKey } = generateKeyPair('ecdsa-p256');
    const certPem = createCertificate(
      privateKey,
      { commonName: 'agent test issuing CA', isCA: true },
      { privateKey: this.root.key, certificate: this.root.cert },
    );
    this.intermediate = { key: privateKey, keyPem: '', certPem, cert: new X509Certificate(certPem) };
  }

  get url(): string {
    return `https://localhost:${this.port}`;
  }

  /** Forgets every node token: the agent's next request is refused until it registers again. */
  dropTokens(): void {
    this.tokens.clear();
  }

  /** Listens on `port` (0: a free one, kept across restarts). */
  async start(port = this.port): Promise<void> {
    const server = https.createServer(
      { key: this.pki.server.keyPem, cert: this.pki.server.certPem, requestCert: true, rejectUnauthorized: false, ca: this.pki.ca.certPem },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const seen = { method: req.method ?? '', path: req.url ?? '', body, authorization: req.headers.authorization ?? '' };
          this.seen.push(seen);
          const [status, answer] = this.answer(seen, req.socket as import('node:tls').TLSSocket);
          const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
          res.writeHead(status, { 'Content-Type': typeof answer === 'string' ? 'application/x-pem-file' : 'application/json' });
          res.end(text);
        });
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  get running(): boolean {
    return this.server !== null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The sign requests received, parsed. */
  signRequests(): Array<{ role: string; csr: ParsedCsr; ttl: unknown }> {
    return this.seen
      .filter((s) => s.path.startsWith('/v1/pki/sign/'))
      .map((s) => {
        const body = JSON.parse(s.body) as { csr: string; ttl: unknown };
        return { role: decodeURIComponent(s.path.slice('/v1/pki/sign/'.length)), csr: parseCsr(body.csr), ttl: body.ttl };
      });
  }

  private answer(r: RequestSeen, socket: import('node:tls').TLSSocket): [number, unknown] {
    const bearer = r.authorization.replace(/^Bearer /, '');
    const json = (): Record<string, unknown> => {
      try {
        return JSON.parse(r.body) as Record<string, unknown>;
      } catch {
        return {};
      }
    };
    if (r.method === 'PUT' && r.path.startsWith('/v1/node/register/')) {
      if (bearer !== this.opts.groupToken) return [403, { message: 'not authorized' }];
      const token = 'kgn_' + randomBytes(16).toString('hex');
      this.tokens.set(token, String(json()['node_id']));
      return [200, { node_token: token, ttl: this.tokenTtl }];
    }
    if (r.method === 'PUT' && r.path === '/v1/node/renew') {
      return this.tokens.has(bearer) ? [200, { node_token: bearer, ttl: this.tokenTtl }] : [403, { message: 'not authorized' }];
    }
    if (r.method === 'GET' && r.path === '/v1/pki/ca') return [200, this.root.certPem];
    const authorized = this.tokens.has(bearer) || (socket.authorized && socket.getPeerCertificate().raw !== undefined);
    if (r.method === 'PUT' && r.path.startsWith('/v1/pki/')) {
      if (this.fault === 'unavailable') return [503, { message: 'issuer unavailable' }];
      if (!authorized) return [403, { message: 'not authorized' }];
    }
    if (r.method === 'PUT' && r.path === '/v1/pki/revoke') {
      const asked = json()['serial'];
      // Any spelling of a serial it issued (with or without colons, any case), as keygate and Vault accept.
      const serial = [...this.signed.keys()].find((k) => typeof asked === 'string' && normalSerial(k) === normalSerial(asked));
      if (serial === undefined) return [404, { message: 'no such certificate' }];
      this.revoked.push(serial);
      return [200, {}];
    }
    if (r.method === 'PUT' && r.path.startsWith('/v1/pki/sign/')) return this.sign(decodeURIComponent(r.path.slice('/v1/pki/sign/'.length)), json());
    return [404, { message: 'not found' }];
  }

  private sign(roleName: string, body: Record<string, unknown>): [number, unknown] {
    const role = this.roles.get(roleName);
    if (!role) return [404, { message: `role '${roleName}' does not exist` }];
    if (typeof body['csr'] !== 'string' || typeof body['ttl'] !== 'string') return [400, { message: 'csr and ttl are required' }];
    let csr: ParsedCsr;
    let ttlMs: number;
    try {
      csr = parseCsr(body['csr']);
      ttlMs = parseDuration(body['ttl']);
    } catch (err) {
      return [400, { message: (err as Error).message }];
    }
    const names = [...new Set([csr.commonName, ...csr.dnsNames])];
    const outside = names.find((n) => !n.endsWith(role.suffix));
    if (outside !== undefined) return [400, { message: `'${outside}' is not allowed by role '${roleName}': names must end in '${role.suffix}'` }];
    const now = this.opts.now();
    const notAfter = new Date(this.fault === 'expired' ? now - 1000 : now + Math.min(ttlMs, role.maxTtlMs));
    const subjectKey = this.fault === 'wrong-key' ? generateKeyPair('ecdsa-p256').publicKey : csr.publicKey;
    const serialBytes = randomBytes(16);
    serialBytes[0] = ((serialBytes[0] ?? 0) & 0x7f) | 0x10; // no leading zero nibble: every spelling of it agrees
    const certificate = createCertificate(
      subjectKey,
      {
        commonName: csr.commonName,
        dnsNames: csr.dnsNames,
        notBefore: new Date(notAfter.getTime() - Math.min(ttlMs, role.maxTtlMs) - 1000),
        notAfter,
        serialNumber: serialBytes,
        extKeyUsage: ['serverAuth'],
      },
      { privateKey: this.intermediate.key, certificate: this.intermediate.cert },
    );
    const serial = this.fault === 'wrong-serial' ? 'ff' + serialBytes.toString('hex') : serialBytes.toString('hex').replace(/(..)(?!$)/g, '$1:');
    if (this.fault === 'garbage') return [200, { certificate: 'not a certificate', chain: [], serial, not_after: notAfter.toISOString() }];
    this.signed.set(serial, { role: roleName, names, notAfter, ttl: body['ttl'] });
    return [200, { certificate, chain: [this.intermediate.certPem, this.root.certPem], serial, not_after: notAfter.toISOString() }];
  }
}
