/**
 * Server state shared by every engine: the namespace tree with its mount
 * tables and policy stores, the token store, seal state and the clock.
 */
import { randomBytes } from 'node:crypto';
import { ACL } from './acl.js';
import { DEFAULT_POLICY, parsePolicy, type Policy } from './policy.js';
import type { Operation, Reply } from './reply.js';
import { TokenStore, type TokenEntry } from './tokens.js';
import { SYSTEM_TTL, uuid } from './util.js';

export type FlavorName = 'vault' | 'vault-ce' | 'openbao';

export interface Flavor {
  name: FlavorName;
  /** Vault CE ignores X-Vault-Namespace and has no sys/namespaces. */
  namespaces: boolean;
  /** Vault ≥ 1.15 adds `mount_type` to the response envelope. */
  mountType: boolean;
  version: string;
  enterprise: boolean;
}

export const FLAVORS: Record<FlavorName, Flavor> = {
  vault: { name: 'vault', namespaces: true, mountType: true, version: '1.19.5+ent', enterprise: true },
  'vault-ce': { name: 'vault-ce', namespaces: false, mountType: true, version: '1.19.5', enterprise: false },
  openbao: { name: 'openbao', namespaces: true, mountType: false, version: '2.3.1', enterprise: false },
};

/** One request as a backend sees it. */
export interface Ctx {
  core: Core;
  ns: Namespace;
  mount: Mount;
  op: Operation;
  /** Path relative to the mount. */
  path: string;
  /** Path relative to the namespace (what error messages quote). */
  requestPath: string;
  data: Record<string, unknown>;
  /** The request body text, for engines that keep JSON number literals. */
  rawBody: string | undefined;
  token: TokenEntry | undefined;
  remoteAddr: string;
  now: number;
  /** The caller's ACL grants sudo on this request path (or the token is root). */
  sudo: boolean;
}

/** A handler answers at once, or later when it must ask elsewhere (Kubernetes TokenReview). */
export type Handler = (ctx: Ctx, m: RegExpExecArray) => Reply | Promise<Reply>;

/** A framework path: first matching pattern wins, like Vault's framework.Backend. */
export interface PathDef {
  pattern: RegExp;
  exists?: (ctx: Ctx, m: RegExpExecArray) => boolean;
  ops: Partial<Record<Operation, Handler>>;
}

export interface Backend {
  paths: PathDef[];
  /** Unauthenticated paths (logins): no token check, no ACL. */
  loginPaths?: RegExp[];
  /** Root-protected paths: the ACL must also grant sudo. */
  rootPaths?: RegExp[];
  /** Live data (KV v1) handed over when a mount is upgraded. */
  exportData?: () => Map<string, unknown>;
}

export interface Mount {
  path: string;
  type: string;
  table: 'secret' | 'auth';
  description: string;
  accessor: string;
  uuid: string;
  local: boolean;
  sealWrap: boolean;
  options: Record<string, string> | null;
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
  runningVersion: string;
  backend: Backend;
}

export type BackendFactory = (core: Core, mount: Mount, ns: Namespace) => Backend;

export class Namespace {
  readonly children = new Map<string, Namespace>();
  readonly mounts = new Map<string, Mount>();
  readonly policies = new Map<string, Policy>();
  customMetadata: Record<string, string> = {};
  readonly uuid = uuid();

  constructor(
    readonly id: string,
    /** '' for root, else `a/b/`. */
    readonly path: string,
    readonly parent: Namespace | undefined,
  ) {}

  get isRoot(): boolean {
    return this.parent === undefined;
  }
}

export interface CoreOptions {
  flavor: Flavor;
  clock: () => number;
  rootToken: string | undefined;
  factories: Record<string, BackendFactory>;
  /** Dev-mode `secret/` KV v2 mount. */
  devSecretMount: boolean;
}

export interface SealState {
  initialized: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  keys: Buffer[];
  progress: Buffer[];
  nonce: string;
}

export class Core {
  readonly flavor: Flavor;
  readonly factories: Record<string, BackendFactory>;
  private readonly baseClock: () => number;
  clockOffsetMs = 0;
  root!: Namespace;
  tokens!: TokenStore;
  seal!: SealState;
  rootToken = '';
  readonly clusterName = `vault-cluster-${randomBytes(4).toString('hex')}`;
  readonly clusterId = uuid();
  /** Health-only node roles; a single node serves requests either way (standbys forward). */
  role: 'active' | 'standby' | 'perfstandby' | 'drsecondary' = 'active';
  private readonly entities = new Map<string, { id: string; name: string }>();
  private readonly nsById = new Map<string, Namespace>();

  constructor(private readonly opts: CoreOptions) {
    this.flavor = opts.flavor;
    this.factories = opts.factories;
    this.baseClock = opts.clock;
    this.reset(true, opts.rootToken);
  }

  now(): number {
    return this.baseClock() + this.clockOffsetMs;
  }

  /** Fresh state: initialised + unsealed dev server, or an uninitialised one. */
  reset(initialized: boolean, rootToken?: string): void {
    this.nsById.clear();
    this.entities.clear();
    this.tokens = new TokenStore(this);
    this.root = this.makeNamespace('root', '', undefined);
    this.seal = { initialized: false, sealed: true, threshold: 0, shares: 0, keys: [], progress: [], nonce: '' };
    if (initialized) {
      this.initialize(1, 1, rootToken);
      this.seal.sealed = false;
      if (this.opts.devSecretMount) this.mount(this.root, 'secret/', 'kv', 'secret', { options: { version: '2' }, description: 'key/value secret storage' });
    }
  }

  /** sys/init: generates unseal keys and the root token; the server stays sealed. */
  initialize(shares: number, threshold: number, rootToken?: string): { keys: Buffer[]; rootToken: string } {
    const keys = Array.from({ length: shares }, () => randomBytes(shares > 1 ? 33 : 32));
    this.seal = { initialized: true, sealed: true, threshold, shares, keys, progress: [], nonce: '' };
    this.rootToken = this.tokens.createRoot(rootToken).id;
    return { keys, rootToken: this.rootToken };
  }

  makeNamespace(id: string, path: string, parent: Namespace | undefined): Namespace {
    const ns = new Namespace(id, path, parent);
    this.nsById.set(id, ns);
    ns.policies.set('default', parsePolicy('default', DEFAULT_POLICY, this.policyOptions()));
    this.mount(ns, 'sys/', 'system', 'secret', { description: 'system endpoints used for control, policy and debugging' });
    this.mount(ns, 'cubbyhole/', 'cubbyhole', 'secret', { description: 'per-token private secret storage', local: true });
    this.mount(ns, 'identity/', 'identity', 'secret', { description: 'identity store' });
    this.mount(ns, 'auth/token/', 'token', 'auth', { description: 'token based credentials' });
    parent?.children.set(path.slice(parent.path.length, -1), ns);
    return ns;
  }

  deleteNamespace(ns: Namespace): void {
    if (!ns.parent) return;
    ns.parent.children.delete(ns.path.slice(ns.parent.path.length, -1));
    this.nsById.delete(ns.id);
    this.tokens.revokeNamespace(ns.id);
  }

  namespaceById(id: string): Namespace | undefined {
    return this.nsById.get(id);
  }

  policyOptions(): { extraCaps: string[] } {
    return { extraCaps: this.flavor.name === 'openbao' ? ['scan'] : ['recover', 'subscribe'] };
  }

  /**
   * Longest existing namespace prefix of header + path. Returns undefined when
   * the header itself names a namespace that does not exist.
   */
  resolveNamespace(header: string | undefined, path: string): { ns: Namespace; rel: string } | undefined {
    if (!this.flavor.namespaces) return { ns: this.root, rel: path };
    let ns = this.root;
    let hdr = (header ?? '').trim().replace(/^\/+/, '');
    if (hdr === 'root' || hdr === 'root/') hdr = '';
    for (const seg of hdr.split('/').filter((s) => s !== '')) {
      const child = ns.children.get(seg);
      if (!child) return undefined;
      ns = child;
    }
    let rel = path;
    for (;;) {
      const slash = rel.indexOf('/');
      if (slash <= 0) break;
      const child = ns.children.get(rel.slice(0, slash));
      if (!child) break;
      ns = child;
      rel = rel.slice(slash + 1);
    }
    return { ns, rel };
  }

  /** The mount serving `rel`; `foo` also matches a `foo/` mount. */
  findMount(ns: Namespace, rel: string): { mount: Mount; sub: string } | undefined {
    let best: Mount | undefined;
    for (const m of ns.mounts.values()) {
      if ((rel.startsWith(m.path) || rel + '/' === m.path) && (!best || m.path.length > best.path.length)) best = m;
    }
    if (!best) return undefined;
    return { mount: best, sub: rel.length >= best.path.length ? rel.slice(best.path.length) : '' };
  }

  mount(
    ns: Namespace,
    path: string,
    type: string,
    table: 'secret' | 'auth',
    o: {
      description?: string;
      options?: Record<string, string> | null;
      local?: boolean;
      sealWrap?: boolean;
      defaultLeaseTtl?: number;
      maxLeaseTtl?: number;
    } = {},
  ): Mount {
    const factory = this.factories[type];
    if (!factory) throw new Error(`no backend factory for ${type}`);
    const mount: Mount = {
      path,
      type,
      table,
      description: o.description ?? '',
      accessor: `${type === 'token' ? 'auth_token' : table === 'auth' ? `auth_${type}` : type}_${randomBytes(4).toString('hex')}`,
      uuid: uuid(),
      local: o.local ?? false,
      sealWrap: o.sealWrap ?? false,
      options: o.options ?? null,
      defaultLeaseTtl: o.defaultLeaseTtl ?? 0,
      maxLeaseTtl: o.maxLeaseTtl ?? 0,
      runningVersion: builtinVersion(type, this.flavor),
      backend: { paths: [] },
    };
    mount.backend = factory(this, mount, ns);
    ns.mounts.set(path, mount);
    return mount;
  }

  /** Effective TTL defaults for tokens issued through a mount. */
  mountTtls(mount: Mount): { dflt: number; max: number } {
    const max = mount.maxLeaseTtl || SYSTEM_TTL;
    return { dflt: Math.min(mount.defaultLeaseTtl || SYSTEM_TTL, max), max };
  }

  /** Identity entity for an alias; created on first login like Vault's identity store. */
  entityFor(nsId: string, mountAccessor: string, alias: string): { id: string; name: string } {
    const key = `${nsId}\0${mountAccessor}\0${alias}`;
    let e = this.entities.get(key);
    if (!e) {
      e = { id: uuid(), name: `entity_${randomBytes(4).toString('hex')}` };
      this.entities.set(key, e);
    }
    return e;
  }

  entityById(id: string): { id: string; name: string } | undefined {
    for (const e of this.entities.values()) if (e.id === id) return e;
    return undefined;
  }

  /** The ACL of a token: its namespace's policies with rule paths prefixed by that namespace. */
  aclFor(te: TokenEntry): ACL {
    const ns = this.namespaceById(te.nsId) ?? this.root;
    if (te.policies.includes('root')) return new ACL([], { rootNsPath: ns.path });
    const inputs = te.policies.flatMap((name) => {
      const p = ns.policies.get(name);
      return p ? [{ policy: p, nsPath: ns.path }] : [];
    });
    return new ACL(inputs, { listSlashFirst: this.flavor.name === 'openbao', entity: te.entityId ? this.entityById(te.entityId) : undefined });
  }
}

function builtinVersion(type: string, flavor: Flavor): string {
  const v = flavor.version.replace(/\+.*$/, '');
  const plugin: Record<string, string> = { kv: 'v0.21.0+builtin', approle: `v${v}+builtin.vault`, kubernetes: 'v0.21.0+builtin' };
  return plugin[type] ?? `v${v}+builtin.vault`;
}
