/**
 * `keygate pki …` against `keygate server --dev` (the compiled CLI): the dev issuer and
 * its `dev` role, issue with the key written 0600, sign a CSR, ca, crl (DER and PEM),
 * ls, revoke; openssl checks the results; a refusal exits 1 with the server's message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { keygate, startDevServer, type DevServer } from '../helpers/cli.js';
import { EC256, Scratch, openssl, opensslVerify } from './support.js';

let dev: DevServer;
let env: NodeJS.ProcessEnv;
const scratch = new Scratch();

beforeAll(async () => {
  dev = await startDevServer();
  env = {
    KEYGATE_SERVER: dev.url.replace('127.0.0.1', 'localhost'),
    KEYGATE_CA: dev.field('CA certificate'),
    KEYGATE_CLIENT_CERT: dev.field('admin certificate'),
    KEYGATE_CLIENT_KEY: dev.field('admin key'),
  };
}, 60_000);
afterAll(async () => {
  dev.process.signal('SIGTERM');
  await dev.process.exited;
});

describe('keygate pki against keygate server --dev', { timeout: 60_000 }, () => {
  it('says at start-up which issuer and role it set up', () => {
    expect(dev.banner).toContain("Certificates: issuer 'dev' (built-in CA), role 'dev' for names under dev.test");
  });

  it('issues, signs, lists, revokes; openssl verifies against the CA and the CRL', async () => {
    const certFile = join(scratch.dir, 'www.crt');
    const keyFile = join(scratch.dir, 'www.key');
    const issued = await keygate(['pki', 'issue', 'dev', 'www.dev.test', '--alt', 'api.dev.test', '--ttl', '2h', '--out', certFile, '--key-out', keyFile], env);
    expect(issued.stderr).toBe('');
    expect(issued.code).toBe(0);
    const serial = /^serial ([0-9a-f]+), valid until \S+Z$/.exec(issued.stdout.trim())?.[1] as string;
    expect(serial).toBeDefined();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(openssl(['x509', '-in', certFile]));
    expect(cert.subjectAltName).toBe('DNS:www.dev.test, DNS:api.dev.test');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);

    const ca = await keygate(['pki', 'ca'], env);
    expect(ca.code).toBe(0);
    const caFile = scratch.file(ca.stdout);
    expect(opensslVerify(['-CAfile', caFile, certFile]).output).toContain(': OK');

    const { csr } = scratch.csr(EC256, 'csr.dev.test');
    const signed = await keygate(['pki', 'sign', 'dev', scratch.file(csr), '--json'], env);
    expect(signed.code).toBe(0);
    expect(Object.keys(JSON.parse(signed.stdout) as object).sort()).toEqual(['certificate', 'chain', 'not_after', 'serial']);

    const ls = await keygate(['pki', 'ls'], env);
    expect(ls.stdout.split('\n')[0]).toMatch(/^SERIAL\s+ROLE\s+NAMES\s+CALLER\s+NOT AFTER\s+REVOKED$/);
    expect(ls.stdout).toContain(`${serial}  dev`);

    expect((await keygate(['pki', 'revoke', serial], env)).stdout).toBe(`revoked ${serial}\n`);
    const crl = scratch.file(Buffer.from((await keygate(['pki', 'crl', '--pem'], env)).stdout), 'crl');
    const revoked = opensslVerify(['-CAfile', caFile, '-crl_check', '-CRLfile', crl, certFile]);
    expect(revoked.output).toContain('certificate revoked');
  });

  it('exits 1 with the role rule for a name outside it, and 3 for a caller without a policy', async () => {
    const r = await keygate(['pki', 'issue', 'dev', 'www.example.com'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("keygate: role 'dev': name 'www.example.com' is not allowed (allowed_names: dev.test, *.dev.test)\n");
    const stranger = await keygate(['identity', 'new', '--key', join(scratch.dir, 's.key'), '--cert', join(scratch.dir, 's.crt'), 'stranger'], env);
    expect(stranger.code).toBe(0);
    const denied = await keygate(['pki', 'issue', 'dev', 'x.dev.test', '--cert', join(scratch.dir, 's.crt'), '--key', join(scratch.dir, 's.key')], env);
    expect(denied.code).toBe(3);
  });
});
