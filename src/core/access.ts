/**
 * The seam between certificate bundles and groups: bundles ask groups who may
 * read them, groups ask bundles what exists. Neither service imports the other.
 */

/** Answers whether a node may read a bundle because its group is assigned it. */
export interface BundleAccess {
  /**
   * The caller's audit name (e.g. `node:<group>/<nodeId>`) if the certificate identity
   * or node token belongs to a group that is assigned `bundle`, else null.
   * `identity` and `token` are '' when absent.
   */
  canReadBundle(identity: string, token: string, bundle: string): Promise<string | null>;
}

/** What the bundle service needs to know about assignments. */
export interface BundleAssignments {
  /** Names of the groups `bundle` is assigned to (empty when none). */
  groupsOf(bundle: string): Promise<string[]>;
  /** Unassigns `bundle` from every group (a forced deletion); returns the groups it was assigned to. */
  unassignEverywhere(bundle: string): Promise<string[]>;
}

/** Until groups exist, nobody reads a bundle through a group. */
export const noGroupAccess: BundleAccess & BundleAssignments = {
  canReadBundle: async () => null,
  groupsOf: async () => [],
  unassignEverywhere: async () => [],
};

/** What groups need to know about bundles: assigning a bundle that does not exist is refused. */
export interface BundleCatalog {
  /** Whether a bundle named `bundle` exists; false (not an error) for names no bundle can have. */
  exists(bundle: string): Promise<boolean>;
}
