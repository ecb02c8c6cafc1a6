/**
 * Certificates checked by independent parties: node's X509Certificate, the
 * openssl CLI (verify -x509_strict, text and DER dumps) and a real mTLS handshake.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createCA, createCertificate, generateKeyPair, issueCertificate, keyTypes, privateKeyToPem, type IssuedCertificate, type KeyType } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'keygate-pki-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY_MS = 24 * 3600 * 1000;
let files = 0;
function save(pem: string): string {
  const path = join(dir, `${++files}.pem`);
  writeFileSync(path, pem);
  return path;
}

/** Runs openssl in the temp dir; `ok` is its exit status, `out` stdout + stderr. */
function openssl(...args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const verify = (ca: string, leaf: string, purpose: string) => openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', save(ca), save(leaf));
const text = (pem: string) => openssl('x509', '-noout', '-text', '-in', save(pem)).out;
const keyUsageDer = (pem: string) =>
  /Key Usage\n.*BOOLEAN.*\n.*OCTET STRING\s+\[HEX DUMP\]:(\w+)/.exec(openssl('asn1parse', '-in', save(pem)).out)?.[1]?.toLowerCase();
const hexId = (output: string, label: string) => new RegExp(`${label}:\\s*\\n\\s*(?:keyid:)?([0-9A-F:]+)`).exec(output)?.[1]?.replaceAll(':', '');

/** The subjectPublicKey bits, rebuilt from other export formats than the SPKI the module hashes. */
function keyBits(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'rsa') return key.export({ type: 'pkcs1', format: 'der' });
  const jwk = key.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  return key.asymmetricKeyType === 'ec' ? Buffer.concat([Buffer.from([4]), x, Buffer.from(jwk.y ?? '', 'base64url')]) : x;
}

function keyTypeOf(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `rsa-${details.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') return { prime256v1: 'ecdsa-p256', secp384r1: 'ecdsa-p384' }[details.namedCurve ?? ''] ?? 'ec?';
  return key.asymmetricKeyType ?? '?';
}

const SIGNATURE_TEXT: Record<KeyType, string> = {
  ed25519: 'ED25519',
  'ecdsa-p256': 'ecdsa-with-SHA256',
  'ecdsa-p384': 'ecdsa-with-SHA384',
  'rsa-2048': 'sha256WithRSAEncryption',
  'rsa-3072': 'sha256WithRSAEncryption',
  'rsa-4096': 'sha256WithRSAEncryption',
};
const leafUsage = (type: KeyType) => (type.startsWith('rsa') ? 'Digital Signature, Key Encipherment' : 'Digital Signature');

interface Outcome {
  received: string;
  peer?: string;
  clientError?: string;
  serverError?: string;
}

/** One mTLS exchange on loopback, both sides verifying against `ca`; the server answers "ok" once it accepts. */
async function handshake(ca: IssuedCertificate, server: IssuedCertificate, client: IssuedCertificate): Promise<Outcome> {
  const outcome: Outcome = { received: '' };
  const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: true });
  srv.on('tlsClientError', (err: NodeJS.ErrnoException) => (outcome.serverError = err.code ?? err.message));
  srv.on('secureConnection', (socket) => {
    outcome.peer = String(socket.getPeerCertificate().subject.CN);
    socket.end('ok');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = srv.address() as AddressInfo;
    await new Promise<void>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: [ca.certPem], key: client.keyPem, cert: client.certPem, rejectUnauthorized: true });
      socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
      socket.on('data', (chunk: Buffer) => (outcome.received += chunk.toString()));
      socket.on('error', (err: NodeJS.ErrnoException) => (outcome.clientError = err.code ?? err.message));
      socket.on('close', () => resolve());
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
  return outcome;
}

describe('every key type', () => {
  // One test per type keeps RSA-4096 key generation (seconds) to a single test.
  it.each(keyTypes)('%s: a CA, a server and a client certificate that node, openssl and TLS accept', async (type) => {
    const ca = createCA(`CA ${type}`, { keyType: type });
    const server = issueCertificate(ca, {
      commonName: 'localhost',
      dnsNames: ['localhost', '*.svc.test'],
      ipAddresses: ['127.0.0.1', '::1'],
      extKeyUsage: ['serverAuth'],
      keyType: type,
    });
    const client = issueCertificate(ca, { commonName: 'client', extKeyUsage: ['clientAuth'], keyType: type });
    const caCert = new X509Certificate(ca.certPem);

    expect(caCert.ca).toBe(true);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(caCert.checkPrivateKey(ca.key)).toBe(true);
    for (const leaf of [server, client]) {
      const cert = new X509Certificate(leaf.certPem);
      expect(cert.ca).toBe(false);
      expect(keyTypeOf(cert.publicKey)).toBe(type);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(false);
      expect(cert.checkIssued(caCert)).toBe(true);
      expect(cert.issuer).toBe(caCert.subject);
      expect(cert.checkPrivateKey(leaf.key)).toBe(true);
      expect(cert.checkPrivateKey(ca.key)).toBe(false);
      expect(leaf.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(createPrivateKey(leaf.keyPem).equals(leaf.key)).toBe(true);
    }

    expect(server.cert.checkHost('localhost')).toBeDefined();
    expect(server.cert.checkHost('api.svc.test')).toBeDefined();
    expect(server.cert.checkHost('example.org')).toBeUndefined();
    expect(server.cert.checkIP('127.0.0.1')).toBeDefined();
    expect(server.cert.checkIP('::1')).toBeDefined();
    expect(server.cert.checkIP('127.0.0.2')).toBeUndefined();
    expect(client.cert.checkHost('localhost')).toBeUndefined();

    expect(verify(ca.certPem, server.certPem, 'sslserver')).toMatchObject({ ok: true });
    expect(verify(ca.certPem, client.certPem, 'sslclient')).toMatchObject({ ok: true });
    expect(verify(ca.certPem, client.certPem, 'sslserver').ok).toBe(false); // clientAuth only

    const caText = text(ca.certPem);
    const serverText = text(server.certPem);
    expect(serverText).toContain(`Signature Algorithm: ${SIGNATURE_TEXT[type]}`);
    expect(serverText).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(serverText).toMatch(new RegExp(`Key Usage: critical\\s+${leafUsage(type)}\\n`));
    expect(caText).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(caText).not.toContain('Extended Key Usage');
    // The DER itself, since openssl's text output is the same for a non-minimal BIT STRING.
    expect(keyUsageDer(ca.certPem)).toBe('03020106');
    expect(keyUsageDer(server.certPem)).toBe(type.startsWith('rsa') ? '030205a0' : '03020780');
    expect(caText).not.toContain('Authority Key Identifier');
    const sha1 = (key: KeyObject) => createHash('sha1').update(keyBits(key)).digest('hex').toUpperCase();
    expect(hexId(caText, 'Subject Key Identifier')).toBe(sha1(ca.cert.publicKey));
    expect(hexId(serverText, 'Subject Key Identifier')).toBe(sha1(server.cert.publicKey));
    expect(hexId(serverText, 'Authority Key Identifier')).toBe(sha1(ca.cert.publicKey));

    expect(await handshake(ca, server, client)).toEqual({ received: 'ok', peer: 'client' });
  });
});

describe('createCertificate', () => {
  it('signs with the issuer key algorithm and sets key usage from the subject key', () => {
    for (const [caType, leafType] of [
      ['rsa-2048', 'ed25519'],
      ['ed25519', 'rsa-2048'],
      ['ecdsa-p384', 'ecdsa-p256'],
    ] as const) {
      const ca = createCA('mixed CA', { keyType: caType });
      const leaf = issueCertificate(ca, { commonName: 'mixed', organization: 'Zürich AG', keyType: leafType });
      const out = text(leaf.certPem);
      expect(out).toContain(`Signature Algorithm: ${SIGNATURE_TEXT[caType]}`);
      expect(out).toMatch(new RegExp(`Key Usage: critical\\s+${leafUsage(leafType)}\\n`));
      expect(out).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
      expect(leaf.cert.subject).toBe('O=Zürich AG\nCN=mixed');
      expect(verify(ca.certPem, leaf.certPem, 'sslserver')).toMatchObject({ ok: true });
    }
  });

  it('copies the issuer name and key identifier from a CA that openssl made', () => {
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[req]',
        'distinguished_name = dn',
        'x509_extensions = ext',
        'prompt = no',
        '[dn]',
        'C = DE',
        'O = Example',
        'CN = OpenSSL Root',
        '[ext]',
        'basicConstraints = critical,CA:TRUE',
        'keyUsage = critical,keyCertSign,cRLSign',
        // A literal identifier: the leaf's AKI can only match it by copying, not by recomputing.
        'subjectKeyIdentifier = 0102030405060708090A0B0C0D0E0F1011121314',
        '',
      ].join('\n'),
    );
    const made = openssl(
      'req',
      '-x509',
      '-config',
      'ca.cnf',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ossl-ca.key',
      '-out',
      'ossl-ca.pem',
      '-days',
      '2',
    );
    expect(made).toMatchObject({ ok: true });
    const caPem = readFileSync(join(dir, 'ossl-ca.pem'), 'utf8');
    const certificate = new X509Certificate(caPem);
    const privateKey = createPrivateKey(readFileSync(join(dir, 'ossl-ca.key')));
    const { publicKey } = generateKeyPair('ed25519');
    const leafPem = createCertificate(publicKey, { commonName: 'leaf', dnsNames: ['leaf.test'] }, { privateKey, certificate });

    // dump_der prints each attribute's DER, string type included (C is a PrintableString here).
    const names = (which: string, pem: string) =>
      openssl('x509', '-noout', which, '-nameopt', 'RFC2253,dump_all,dump_der', '-in', save(pem)).out.replace(/^\w+=/, '');
    expect(names('-subject', caPem)).toContain('C=#1302');
    expect(names('-issuer', leafPem)).toBe(names('-subject', caPem));
    expect(new X509Certificate(leafPem).checkIssued(certificate)).toBe(true);
    expect(hexId(text(leafPem), 'Authority Key Identifier')).toBe('0102030405060708090A0B0C0D0E0F1011121314');
    expect(verify(caPem, leafPem, 'sslserver')).toMatchObject({ ok: true });
  });

  it('self-signs with the private key given as the key or as the issuer key', () => {
    const { privateKey, publicKey } = generateKeyPair('ed25519');
    for (const pem of [createCertificate(privateKey, { commonName: 'me' }), createCertificate(publicKey, { commonName: 'me' }, { privateKey })]) {
      const cert = new X509Certificate(pem);
      expect(cert.verify(publicKey)).toBe(true);
      expect(cert.issuer).toBe(cert.subject);
      expect(cert.ca).toBe(false);
      expect(text(pem)).not.toContain('Authority Key Identifier');
    }
    const ca = createCA('self-signed CA');
    expect(verify(ca.certPem, ca.certPem, 'any')).toMatchObject({ ok: true });
    expect(privateKeyToPem(privateKey)).toBe(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  });

  it('encodes IPv4 and IPv6 addresses as 4 and 16 bytes', () => {
    const ips = ['192.0.2.7', '2001:db8::1', '::ffff:192.0.2.1', '::', '1::', 'FE80:0:0:0:0:0:0:A'];
    const { cert, certPem } = issueCertificate(null, { commonName: 'ips', ipAddresses: ips });
    for (const ip of ips) expect(cert.checkIP(ip), ip).toBeDefined();
    expect(cert.checkIP('2001:db8::2')).toBeUndefined();
    expect(text(certPem)).toContain(
      'IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:201, ' +
        'IP Address:0:0:0:0:0:0:0:0, IP Address:1:0:0:0:0:0:0:0, IP Address:FE80:0:0:0:0:0:0:A',
    );
  });

  it('defaults the validity to a minute ago plus 30 days, and switches to GeneralizedTime in 2050', () => {
    const start = Date.now();
    const { cert } = issueCertificate(null, { commonName: 'dates' });
    const from = Date.parse(cert.validFrom);
    expect(from).toBeGreaterThanOrEqual(Math.floor((start - 60_000) / 1000) * 1000);
    expect(from).toBeLessThanOrEqual(Date.now() - 60_000);
    expect(Date.parse(cert.validTo) - from).toBe(30 * DAY_MS);

    const notBefore = new Date('2049-12-31T23:59:59Z');
    const later = issueCertificate(null, { commonName: 'y2050', notBefore, notAfter: new Date('2050-01-01T00:00:00.999Z') });
    expect(later.cert.validFrom).toBe('Dec 31 23:59:59 2049 GMT');
    expect(later.cert.validTo).toBe('Jan  1 00:00:00 2050 GMT');
    const dump = openssl('asn1parse', '-in', save(later.certPem)).out;
    expect(dump).toMatch(/UTCTIME\s+:491231235959Z/);
    expect(dump).toMatch(/GENERALIZEDTIME\s+:20500101000000Z/);
    const onlyStart = issueCertificate(null, { commonName: 'start', notBefore });
    expect(Date.parse(onlyStart.cert.validTo) - Date.parse(onlyStart.cert.validFrom)).toBe(30 * DAY_MS);
  });

  it('writes serial numbers as positive, minimal integers', () => {
    const { privateKey } = generateKeyPair('ecdsa-p256');
    const serialOf = (serialNumber?: Buffer) =>
      new X509Certificate(createCertificate(privateKey, serialNumber ? { commonName: 's', serialNumber } : { commonName: 's' })).serialNumber;
    expect(serialOf(Buffer.from('7f' + 'ff'.repeat(19), 'hex')).toLowerCase()).toBe('7f' + 'ff'.repeat(19));
    expect(serialOf(Buffer.from('80', 'hex'))).toBe('80');
    expect(serialOf(Buffer.from([0, 0, 1, 2]))).toBe('0102');
    const random = Array.from({ length: 50 }, () => serialOf());
    expect(new Set(random).size).toBe(50);
    for (const serial of random) expect(BigInt(`0x${serial}`) < 2n ** 127n && BigInt(`0x${serial}`) > 0n, serial).toBe(true);
    // 20 octets with the high bit set need a 0x00 sign octet, which makes 21.
    expect(() => serialOf(Buffer.from('ff'.repeat(20), 'hex'))).toThrow(RangeError);
    expect(() => serialOf(Buffer.from([0, 0]))).toThrow(RangeError);
  });

  it('refuses inconsistent keys, non-CA issuers and malformed options', () => {
    const { privateKey, publicKey } = generateKeyPair('ecdsa-p256');
    const other = generateKeyPair('ecdsa-p256');
    const ca = createCA('refusing CA');
    const leaf = issueCertificate(ca, { commonName: 'leaf' });
    const ok = { commonName: 'x' };
    expect(() => createCertificate(publicKey, ok)).toThrow(/needs the private key/);
    expect(() => createCertificate(publicKey, ok, { privateKey: other.privateKey })).toThrow(/signed with the subject key/);
    expect(() => createCertificate(publicKey, ok, { privateKey: other.privateKey, certificate: ca.cert })).toThrow(/does not match/);
    expect(() => createCertificate(publicKey, ok, { privateKey: leaf.key, certificate: leaf.cert })).toThrow(/not a CA/);
    for (const ip of ['fe80::1%eth0', '1.2.3', '01.2.3.4', 'localhost']) {
      expect(() => createCertificate(privateKey, { ...ok, ipAddresses: [ip] }), ip).toThrow(TypeError);
    }
    expect(() => createCertificate(privateKey, { ...ok, dnsNames: ['bücher.example'] })).toThrow(TypeError);
    expect(() => createCertificate(privateKey, { commonName: '' })).toThrow(TypeError);
    const now = new Date();
    expect(() => createCertificate(privateKey, { ...ok, notBefore: now, notAfter: now })).toThrow(RangeError);
    expect(() => createCertificate(privateKey, { ...ok, notBefore: new Date('1949-06-01T00:00:00Z') })).toThrow(RangeError);
  });
});

describe('mutual TLS rejects', () => {
  const ca = createCA('TLS CA');
  const server = issueCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'], extKeyUsage: ['serverAuth'] });
  const client = issueCertificate(ca, { commonName: 'client', extKeyUsage: ['clientAuth'] });
  const yesterday = () => new Date(Date.now() - DAY_MS);

  it('an expired server certificate', async () => {
    const expired = issueCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'], notAfter: yesterday() });
    expect(await handshake(ca, server, client)).toEqual({ received: 'ok', peer: 'client' });
    expect(await handshake(ca, expired, client)).toMatchObject({ received: '', clientError: 'CERT_HAS_EXPIRED' });
  });

  it('an expired client certificate', async () => {
    const expired = issueCertificate(ca, { commonName: 'client', notAfter: yesterday() });
    // node's server drops the connection without an alert, so the reason comes from openssl.
    expect(verify(ca.certPem, expired.certPem, 'sslclient').out).toContain('certificate has expired');
    const outcome = await handshake(ca, server, expired);
    expect(outcome.received).toBe('');
    expect(outcome.peer).toBeUndefined();
    expect(outcome.serverError).toBeDefined();
  });

  it('a client certificate from another CA', async () => {
    const stranger = issueCertificate(createCA('other CA'), { commonName: 'client' });
    const outcome = await handshake(ca, server, stranger);
    expect(outcome.received).toBe('');
    expect(outcome.peer).toBeUndefined();
    expect(outcome.serverError).toBeDefined();
  });
});
