/**
 * An issuer backed by Vault's PKI secrets engine at a mount: `<mount>/sign/<role>`,
 * `<mount>/issue/<role>`, `<mount>/revoke`, `<mount>/cert/ca_chain`, `<mount>/cert/crl`
 * and `<mount>/tidy`, over the Vault keystore's HTTP client and token handling
 * (login, renewal, a fresh login when Vault says the token is no longer valid).
 * keygate's role decides what may be asked for; the Vault role signs it, so it
 * should allow what keygate's roles allow (e.g. `allow_any_name`).
 */
import { X509Certificate } from 'node:crypto';
import { VaultHTTP, field, isInvalidToken, type VaultRequest, type VaultResponse } from '../../keystores/vault/http.js';
import { VaultAuthenticator } from '../../keystores/vault/auth.js';
import type { VaultAuth, VaultTlsOptions } from '../../keystores/vault/options.js';
import { StoreUnreachableError } from '../../keystores/keystore.js';
import { BadRequestError, UnavailableError, coded } from '../errors.js';
import type { Issuer, SignInput, Signed } from '../core/pki/issuer.js';

export interface VaultPkiOptions {
  endpoint: string;
  mount: string;
  namespace: string;
  auth: VaultAuth;
  tls: VaultTlsOptions;
  timeoutMs: number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** `7a:0b:…` (Vault) ↔ `7a0b…` (keygate). */
const toVaultSerial = (serial: string): string => (serial.length % 2 ? `0${serial}` : serial).replace(/(..)(?!$)/g, '$1:');

export class VaultPkiIssuer implements Issuer {
  readonly kind = 'vault_pki' as const;
  private readonly http: VaultHTTP;
  private readonly auth: VaultAuthenticator;
  private started: Promise<void> | undefined;

  constructor(private readonly options: VaultPkiOptions) {
    this.http = new VaultHTTP(new URL(options.endpoint), options.tls, options.timeoutMs);
    this.auth = new VaultAuthenticator(this.http, options.auth, options.namespace, options.log);
  }

  async sign(input: SignInput): Promise<Signed> {
    if (input.csr === null) throw new BadRequestError('vault PKI signs certificate requests only');
    const data = await this.call('POST', `sign/${encodeURIComponent(input.vaultRole)}`, { ...this.names(input), csr: input.csr });
    return signed(data);
  }

  async issue(input: Omit<SignInput, 'csr' | 'publicKey'>): Promise<Signed & { privateKey: string }> {
    const data = await this.call('POST', `issue/${encodeURIComponent(input.vaultRole)}`, { ...this.names(input), private_key_format: 'pkcs8' });
    const key = field(data, 'private_key');
    if (typeof key !== 'string') throw coded('VAULT_PKI_NO_KEY');
    return { ...signed(data), privateKey: key.endsWith('\n') ? key : `${key}\n` };
  }

  async revoke(serial: string): Promise<void> {
    await this.call('POST', 'revoke', { serial_number: toVaultSerial(serial) });
  }

  async ca(): Promise<string[]> {
    const chain = String(field(await this.call('GET', 'cert/ca_chain'), 'certificate') ?? '').match(CERT_BLOCK) ?? [];
    if (chain.length > 0) return chain.map((b) => `${b}\n`);
    const ca = String(field(await this.call('GET', 'cert/ca'), 'certificate') ?? '').match(CERT_BLOCK) ?? [];
    if (ca.length === 0) throw coded('VAULT_PKI_NO_CA');
    return ca.map((b) => `${b}\n`);
  }

  async crl(): Promise<Buffer> {
    const pem = String(field(await this.call('GET', 'cert/crl'), 'certificate') ?? '');
    const m = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/.exec(pem);
    if (!m) throw coded('VAULT_PKI_NO_CRL');
    return Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64');
  }

  /** Vault's own tidy: expired certificates leave its store and its CRL. It runs in Vault's background. */
  async tidy(): Promise<number> {
    await this.call('POST', 'tidy', { tidy_cert_store: true, tidy_revoked_certs: true, safety_buffer: '1s' });
    return 0;
  }

  async close(): Promise<void> {
    await this.auth.close(true);
    this.http.close();
  }

  private names(input: Omit<SignInput, 'csr' | 'publicKey'>): Record<string, string> {
    return {
      common_name: input.commonName,
      alt_names: input.dnsNames.filter((n) => n !== input.commonName).join(','),
      ip_sans: input.ipAddresses.join(','),
      ttl: `${Math.round(input.ttlMs / 1000)}s`,
      format: 'pem',
    };
  }

  /** One authenticated request; a rejected token is replaced once. Returns `data`. */
  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const req: VaultRequest = { method, path: `${this.options.mount}/${path}`, namespace: this.options.namespace, ...(body !== undefined ? { body } : {}) };
    try {
      this.started ??= this.auth.start().catch((err: unknown) => {
        this.started = undefined;
        throw err;
      });
      await this.started;
      let token = this.auth.token;
      let res: VaultResponse = await this.http.send({ ...req, token });
      if (isInvalidToken(res) && this.auth.canLogin) {
        await this.auth.refresh(token);
        token = this.auth.token;
        res = await this.http.send({ ...req, token });
      }
      if (res.status === 200 || res.status === 202 || res.status === 204) return field(res.body, 'data');
      const said = res.errors.join('; ').slice(0, 300);
      if (res.status === 400) throw new BadRequestError(`vault PKI refused: ${said || 'bad request'}`);
      throw coded('VAULT_PKI_STATUS', [res.status], { cause: new Error(`vault: ${method} ${req.path}: ${res.status} ${said}`) });
    } catch (err) {
      if (err instanceof BadRequestError || err instanceof UnavailableError) throw err;
      if (err instanceof StoreUnreachableError) throw coded('VAULT_PKI_UNREACHABLE', [], { cause: err });
      throw coded('VAULT_PKI_FAILED', [], { cause: err });
    }
  }
}

function signed(data: unknown): Signed {
  const certificate = field(data, 'certificate');
  if (typeof certificate !== 'string') throw coded('VAULT_PKI_NO_CERTIFICATE');
  const cert = new X509Certificate(certificate);
  const chainField = field(data, 'ca_chain');
  const chain = Array.isArray(chainField) && chainField.length > 0 ? chainField.map(String) : [String(field(data, 'issuing_ca') ?? '')].filter((c) => c !== '');
  let serial = cert.serialNumber.toLowerCase();
  while (serial.length > 2 && serial.startsWith('00')) serial = serial.slice(2);
  return { certificate: cert.toString(), chain: chain.map((c) => new X509Certificate(c).toString()), serial, notAfter: new Date(cert.validTo) };
}
