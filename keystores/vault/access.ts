/**
 * Readiness that tells the truth (issue 14): a token whose policies deny the
 * keystore's folder makes every operation fail with 403 while Vault itself is
 * healthy. The adapter asks Vault which capabilities its token has on the paths
 * it uses (`sys/capabilities-self`, granted by Vault's `default` policy) at
 * connect — logging one line naming the path and what is missing — and at every
 * status probe, which then fails with StoreAccessDeniedError saying why.
 *
 * When capabilities-self itself is refused (a token without the `default`
 * policy), a LIST of the keystore's folder decides instead: an ACL denial
 * there means 'list' is missing; anything else passes.
 */
import { StoreAccessDeniedError } from '../keystore.js';
import { field, isInvalidToken, type VaultHTTP, type VaultRequest } from './http.js';
import type { KVStrategy } from './kv.js';

/** What keygate does on each path, per KV version (see policy.ts). */
interface Need {
  /** Shown in messages: the path pattern a policy must grant. */
  shown: string;
  /** A concrete path to ask about. */
  path: string;
  caps: string[];
}

/** A name no entry has (entry names never start with '.'), to ask about the folder's entries. */
const SAMPLE = '.keygate-access-check';

function needs(kv: KVStrategy): Need[] {
  const entry = kv.entryPath(SAMPLE);
  const entries = { shown: entry.slice(0, -SAMPLE.length) + '*', path: entry };
  if (kv.version === 'v1') return [{ ...entries, caps: ['create', 'read', 'update', 'delete', 'list'] }];
  const meta = kv.deletePath(SAMPLE);
  return [
    { ...entries, caps: ['create', 'read', 'update'] },
    { shown: meta.slice(0, -SAMPLE.length) + '*', path: meta, caps: ['list', 'delete'] },
  ];
}

export class AccessCheck {
  private checking: Promise<string> | undefined;

  constructor(
    private readonly http: VaultHTTP,
    private readonly kv: KVStrategy,
    private readonly token: () => string,
    private readonly namespace: string,
  ) {}

  /**
   * '' when the token may do everything keygate does, else what is missing
   * ("permission denied on kv/data/keygate/*: missing create, update"). Concurrent
   * callers share one check. Transport failures are thrown (StoreUnreachableError).
   */
  missing(): Promise<string> {
    this.checking ??= this.checkOnce().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Throws StoreAccessDeniedError when something is missing. */
  async assert(): Promise<void> {
    const missing = await this.missing();
    if (missing !== '') throw new StoreAccessDeniedError(`vault: ${missing}`);
  }

  private send(req: VaultRequest): ReturnType<VaultHTTP['send']> {
    return this.http.send({ ...req, token: this.token(), namespace: this.namespace });
  }

  private async checkOnce(): Promise<string> {
    const wanted = needs(this.kv);
    const res = await this.send({ method: 'POST', path: 'sys/capabilities-self', body: { paths: wanted.map((n) => n.path) } });
    // An invalid token is not a policy problem: requests log in again, or fail saying so.
    if (isInvalidToken(res)) return '';
    if (res.status !== 200) return this.listFallback();
    const data = field(res.body, 'data') ?? res.body;
    const gaps: string[] = [];
    for (const need of wanted) {
      const held = field(data, need.path);
      const caps = Array.isArray(held) ? held.filter((c): c is string => typeof c === 'string') : [];
      if (caps.includes('root')) continue;
      const lacking = caps.includes('deny') ? need.caps : need.caps.filter((c) => !caps.includes(c));
      if (lacking.length > 0) gaps.push(`${need.shown}: missing ${lacking.join(', ')}`);
    }
    return gaps.length === 0 ? '' : `permission denied on ${gaps.join('; on ')}`;
  }

  private async listFallback(): Promise<string> {
    const res = await this.send({ method: 'LIST', path: this.kv.listPath });
    if (res.status === 403 && !isInvalidToken(res)) return `permission denied on ${this.kv.listPath}: missing list`;
    return '';
  }
}
