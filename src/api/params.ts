/**
 * What each route accepts as a name in its path. The dispatcher percent-decodes
 * every path segment once, refuses what no name may be (see
 * server/canonical.ts), then hands the decoded segment to the route's Param:
 * the Param refuses what its kind of name may not be and returns the one
 * canonical spelling. Policies are matched on the path rebuilt from those
 * canonical names, and handlers receive exactly the same names, so a policy
 * always decides on the thing the handler acts on.
 */
import { BadRequestError } from '../errors.js';
import { invalidName, invalidPattern } from './request.js';
import type { Param } from '../server/route.js';
import { isValidName, isValidPattern } from '../core/names.js';
import { BUNDLE_NAME_RULES, invalidBundleNameMessage, isValidBundleName, isValidBundlePrefix, parseServerName } from '../core/bundles/names.js';
import { checkGroupName } from '../core/fleet/groups.js';
import { checkNodeId } from '../core/fleet/nodes.js';

const kesName = (kind: string): Param => {
  const invalid = (s: string) => invalidName(kind, s);
  return {
    kind,
    invalid,
    canonical: (s) => {
      if (!isValidName(s)) throw invalid(s);
      return s;
    },
  };
};

/** KES key names: [0-9A-Za-z_-], 1–80 characters. */
export const KEY_NAME = kesName('key name');
export const POLICY_NAME = kesName('policy name');
export const IDENTITY = kesName('identity');

/** A KES listing pattern: '', '*', or a name prefix with one trailing '*'. */
export const LIST_PATTERN: Param = {
  kind: 'listing pattern',
  optional: true,
  invalid: (s) => invalidPattern(s),
  canonical: (s) => {
    if (!isValidPattern(s)) throw invalidPattern(s);
    return s;
  },
};

/** A certificate bundle name (as stored: bundle names are case-sensitive keystore names). */
const invalidBundle = (s: string) => new BadRequestError(invalidBundleNameMessage(s));
export const BUNDLE_NAME: Param = {
  kind: 'bundle name',
  invalid: invalidBundle,
  canonical: (s) => {
    if (!isValidBundleName(s)) throw invalidBundle(s);
    return s;
  },
};

/** A bundle listing pattern: a leading part of a bundle name with an optional trailing '*'. */
export const BUNDLE_PATTERN: Param = {
  kind: 'bundle listing pattern',
  optional: true,
  canonical: (s) => {
    if (!isValidBundlePrefix(s.endsWith('*') ? s.slice(0, -1) : s)) {
      throw new BadRequestError(`invalid bundle name prefix: use ${BUNDLE_NAME_RULES}, or a leading part of such a name`);
    }
    return s;
  },
};

/**
 * A server name as a TLS client sends it in SNI: DNS names are case-insensitive
 * and may be written fully qualified, so the canonical spelling is lowercase
 * without the trailing dot; IP addresses take the URL parser's normal form
 * (`0::1` and `::1` are one address).
 */
const invalidServerName = () => new BadRequestError('invalid server name: expected a DNS name or an IP address');
export const SERVER_NAME: Param = {
  kind: 'server name',
  invalid: invalidServerName,
  canonical: (s) => {
    const parsed = parseServerName(s);
    if (!parsed) throw invalidServerName();
    if (parsed.kind === 'dns') return parsed.name;
    const literal = s.startsWith('[') ? s : s.includes(':') ? `[${s}]` : s;
    return new URL(`https://${literal}/`).hostname;
  },
};

export const GROUP_NAME: Param = {
  kind: 'group name',
  canonical: (s) => {
    checkGroupName(s);
    return s;
  },
};

/** A group listing pattern: KES's listing rules. */
export const GROUP_PATTERN: Param = { ...LIST_PATTERN, kind: 'group listing pattern' };

/** A node id or an enrolled identity; node ids may hold '/' (sent as %2F). */
export const NODE_ID: Param = {
  kind: 'node id',
  allowSlash: true,
  canonical: (s) => {
    checkNodeId(s);
    return s;
  },
};
