/**
 * Issue 11 ("Also"): a CA certificate (basicConstraints CA:TRUE) is refused as a bundle leaf
 * unless explicitly allowed: its key would go to every node the bundle is assigned to.
 */
import { describe, expect, it } from 'vitest';
import { CA_LEAF_REFUSED, validateBundle } from './validate.js';
import { BundleService } from './service.js';
import { noGroupAccess } from '../access.js';
import { BundleCerts } from '../../../test/helpers/bundle-certs.js';
import { CountingStore } from '../../../test/helpers/fleet.js';
import { issueCertificate } from '../../pki/index.js';
import { BadRequestError } from '../../errors.js';

const certs = new BundleCerts();
const now = new Date();

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return (err as Error).message;
  }
  throw new Error('not refused');
}

describe('CA certificates as bundle leaves', () => {
  it('refuses the intermediate with its own key, a self-signed CA, and a sub-CA with its chain', () => {
    const { intermediate, root } = certs;
    expect(refused(() => validateBundle(intermediate.certPem + root.certPem, intermediate.keyPem, { now }))).toBe(CA_LEAF_REFUSED);
    expect(refused(() => validateBundle(root.certPem, root.keyPem, { now }))).toBe(CA_LEAF_REFUSED);
    const subCA = issueCertificate(intermediate, { commonName: 'sub ca', dnsNames: ['www.example.com'], isCA: true });
    expect(refused(() => validateBundle(subCA.certPem + intermediate.certPem, subCA.keyPem, { now }))).toBe(CA_LEAF_REFUSED);
  });

  it('accepts them with allowCaLeaf, and ordinary leaves without it', () => {
    expect(validateBundle(certs.root.certPem, certs.root.keyPem, { now, allowCaLeaf: true }).leaf.ca).toBe(true);
    const b = certs.bundle({ dnsNames: ['www.example.com'] });
    expect(validateBundle(b.chainPem, b.keyPem, { now }).leaf.ca).toBe(false);
  });

  it('the bundle service stores nothing for a CA leaf unless the import opts in', async () => {
    const store = new CountingStore();
    const bundles = new BundleService(store, noGroupAccess);
    const ca = issueCertificate(certs.intermediate, { commonName: 'www.example.com', dnsNames: ['www.example.com'], isCA: true });
    const input = { chainPem: ca.certPem + certs.intermediate.certPem, keyPem: ca.keyPem, ttl: 3600 };
    await expect(bundles.import('www.example.com', input, 'test')).rejects.toThrow(CA_LEAF_REFUSED);
    expect((await store.list('', '', 10)).names).toEqual([]);
    await bundles.import('www.example.com', { ...input, allowCaLeaf: true }, 'test');
    expect((await bundles.describe('www.example.com')).name).toBe('www.example.com');
  });
});
