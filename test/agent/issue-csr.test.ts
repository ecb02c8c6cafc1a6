/** The agent's keys and CSRs: for every key type, `openssl req -verify` accepts the request and reads back the names asked for. */
import { afterAll, describe, expect, it } from 'vitest';
import { createPublicKey } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyTypes } from '../../src/pki/keys.js';
import { newPrivateKey } from '../../src/agent/issue.js';
import { createCsr, parseCsr } from '../../src/pki/csr.js';
import { runToEnd } from '../helpers/processes.js';
import { tempDir } from './fixture.js';

const work = tempDir('keygate-csr-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const subject = { commonName: 'edge-1.edge.example', dnsNames: ['edge-1.edge.example', '*.edge-1.edge.example'], ipAddresses: ['192.0.2.7', '2001:db8::1'] };

describe('agent CSRs', () => {
  // RSA-3072/4096 take long to generate and add nothing RSA-2048 does not show.
  it.each(keyTypes.filter((t) => t !== 'rsa-3072' && t !== 'rsa-4096'))('%s: verified by openssl, names and key as asked', async (type) => {
    const key = await newPrivateKey(type);
    const pem = createCsr(key, { ...subject });
    const file = join(work, `${type}.csr`);
    writeFileSync(file, pem);
    const r = await runToEnd('openssl', ['req', '-in', file, '-verify', '-noout', '-text']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/verify OK/);
    expect(r.stdout).toContain('Subject: CN = edge-1.edge.example');
    expect(r.stdout).toContain('DNS:edge-1.edge.example, DNS:*.edge-1.edge.example, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1');
    const parsed = parseCsr(pem);
    expect(parsed.publicKey.equals(createPublicKey(key))).toBe(true);
    expect(parsed.dnsNames).toEqual(subject.dnsNames);
  });

  it('a tampered request does not verify', async () => {
    const pem = createCsr(await newPrivateKey('ecdsa-p256'), { ...subject });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('edge-1.edge.example'));
    der[at] = 'f'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(() => parseCsr(tampered)).toThrow('csr: the signature does not verify with the key it carries');
  });
});
