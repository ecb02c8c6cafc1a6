/**
 * The server's configuration snapshot: admin, policies, identities and the
 * services built on the keystore. A reload builds a new State and swaps the
 * pointer; each request reads the pointer once, so it runs start to finish on
 * one consistent snapshot.
 */
import type { Policy } from '../policy/index.js';
import type { KeyService } from '../core/keys/service.js';
import type { BundleService } from '../core/bundles/service.js';
import type { BundleChanges } from '../core/bundles/changes.js';
import type { BundleAccess } from '../core/access.js';
import type { TokenService } from '../core/fleet/tokens.js';
import type { GroupService } from '../core/fleet/groups.js';
import type { NodeService } from '../core/fleet/nodes.js';
import type { KeyStore } from '../../keystores/keystore.js';
import type { Logger } from '../log/logger.js';
import type { PkiService } from '../core/pki/service.js';

export interface State {
  /** The admin identity, or null when admin is disabled (a non-hex value in the config). */
  readonly admin: string | null;
  /** The configured admin value as written (KES lists it even when disabled). */
  readonly adminName: string;
  readonly policies: ReadonlyMap<string, Policy>;
  /** identity → its one policy */
  readonly identities: ReadonlyMap<string, Policy>;
  readonly createdAt: Date;
  readonly store: KeyStore;
  readonly keys: KeyService;
  /** Certificate bundles (`/v1/cert/...`). */
  readonly bundles: BundleService;
  /** Bundle changes through this process, for watches; the same object in every snapshot of one server. */
  readonly bundleChanges: BundleChanges;
  /** Who may read a bundle through a group (the grant of `/v1/cert/get/*` and lookup). */
  readonly access: BundleAccess;
  /** Group and node tokens (stored as hashes). */
  readonly tokens: TokenService;
  /** Groups of nodes and their bundle assignments (`/v1/group/...`). */
  readonly groups: GroupService;
  /** Node registration, enrollment, revocation, bans and inventory (`/v1/node/...`). */
  readonly nodes: NodeService;
  /** The RKS-compatible surface's credentials (`rks:` in the config). */
  readonly rks: RksSettings;
  /** Certificate issuers and roles (`/v1/pki/...`). */
  readonly pki: PkiService;
  readonly logger: Logger;
}

/** The `rks:` section, resolved: null parts switch `POST /rks/v1/init` or the admin login off (403). */
export interface RksSettings {
  readonly initToken: string | null;
  readonly admin: {
    readonly login: string;
    readonly password: string;
    /**
     * Derived from the login and password (never either of them): admin tokens carry the
     * generation they were issued under, so changing the password kills every earlier token.
     */
    readonly generation: string;
  } | null;
  /** Seconds an admin token lives; renew-self restores it. */
  readonly adminTokenTtl: number;
  /** The Vault endpoint of the keystore, or '' (RKS's `/healthz` names it). */
  readonly vaultAddress: string;
}

export interface StateHolder {
  current: State;
  /**
   * Calls `listener` with each new snapshot after a reload (long-lived streams
   * re-check their caller's authorisation); returns the unsubscribe function.
   */
  onChange?(listener: (state: State) => void): () => void;
}

/** A holder whose reloads are announced to subscribers: the server's. */
export class ReloadableState implements StateHolder {
  private readonly listeners = new Set<(state: State) => void>();
  private state: State;

  constructor(initial: State) {
    this.state = initial;
  }

  get current(): State {
    return this.state;
  }

  set current(next: State) {
    this.state = next;
    for (const l of [...this.listeners]) l(next);
  }

  onChange(listener: (state: State) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}
