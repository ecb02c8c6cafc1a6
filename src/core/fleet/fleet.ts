/**
 * Wires the group and node services over one keystore: the composition root
 * calls this once per State, tests call it with a clock of their own.
 */
import type { KeyStore } from '../../../keystores/keystore.js';
import type { BundleAccess, BundleAssignments, BundleCatalog } from '../access.js';
import { CallbackClient, type NodeVerifier } from './callback.js';
import { GroupService } from './groups.js';
import { NodeService } from './nodes.js';
import { TokenService } from './tokens.js';

export interface FleetServices {
  tokens: TokenService;
  groups: GroupService;
  nodes: NodeService;
  /** What the bundle service asks: who may read a bundle, and which groups it is assigned to. */
  access: BundleAccess & BundleAssignments;
}

export interface FleetOptions {
  /** Clock in milliseconds for token expiry, last-seen and access-token caching (tests). */
  now?: () => number;
  /** How node ids are checked against a group's callback (default: a CallbackClient). */
  verifier?: NodeVerifier;
  touchIntervalMs?: number;
  /**
   * Whether group managers may be on this host's loopback addresses (any spelling): the
   * config's `callbacks.allow_loopback`, off by default, since whoever may set a group's
   * callback URL could otherwise reach services that listen only on this host. Unspecified
   * addresses are refused either way.
   */
  allowLoopbackCallbacks?: boolean;
}

export function createFleet(store: KeyStore, catalog: BundleCatalog, options: FleetOptions = {}): FleetServices {
  const clock = options.now !== undefined ? { now: options.now } : {};
  const tokens = new TokenService(store, clock);
  const groups = new GroupService(store, tokens, catalog);
  const verifier = options.verifier ?? new CallbackClient({ ...clock, allowLoopback: options.allowLoopbackCallbacks ?? false });
  const nodes = new NodeService(store, tokens, groups, verifier, options.touchIntervalMs !== undefined ? { touchIntervalMs: options.touchIntervalMs } : {});
  const access: BundleAccess & BundleAssignments = {
    canReadBundle: (identity, token, bundle) => nodes.canReadBundle(identity, token, bundle),
    groupsOf: (bundle) => groups.groupsOf(bundle),
    unassignEverywhere: (bundle) => groups.unassignEverywhere(bundle),
  };
  return { tokens, groups, nodes, access };
}
