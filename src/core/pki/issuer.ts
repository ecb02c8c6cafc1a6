/**
 * What a certificate issuer does for the PKI service. The service checks roles,
 * callers and names; an issuer only signs what it is handed, revokes, and publishes
 * its CA and CRL. Implementations: the built-in CA (builtin.ts) and Vault's PKI
 * engine (src/pki/vault-pki.ts).
 */
import type { KeyObject } from 'node:crypto';
import type { Usage } from './config.js';

export interface SignInput {
  /** The PEM CSR as received, or null when keygate made the key itself (issue). */
  csr: string | null;
  publicKey: KeyObject;
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  ttlMs: number;
  usage: Usage[];
  /** keygate's role, and the name the issuer's own role goes by (Vault). */
  role: string;
  vaultRole: string;
}

export interface Signed {
  certificate: string;
  /** The issuing CA first, up to the root. */
  chain: string[];
  /** Lowercase hex, no separators. */
  serial: string;
  notAfter: Date;
}

export interface Issuer {
  readonly kind: 'builtin' | 'vault_pki';
  sign(input: SignInput): Promise<Signed>;
  /**
   * The issuer makes the key itself (Vault's `issue`); absent when keygate makes the key
   * and calls `sign`. Never stored: returned once.
   */
  issue?(input: Omit<SignInput, 'csr' | 'publicKey'>): Promise<Signed & { privateKey: string }>;
  /** Adds the serial to the CRL. `notAfter` lets the entry be pruned once the certificate expires. */
  revoke(serial: string, notAfter: Date): Promise<void>;
  /** The issuing CA's certificate first, then the rest of its chain (PEM). */
  ca(): Promise<string[]>;
  /** The current CRL, DER. */
  crl(): Promise<Buffer>;
  /** Drops CRL entries of certificates expired before `now`; returns how many. */
  tidy(now: number): Promise<number>;
  close(): Promise<void>;
}
