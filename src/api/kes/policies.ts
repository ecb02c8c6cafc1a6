/**
 * `/v1/policy/...` and `/v1/identity/...`: read-only views of the policies and
 * identities loaded from the configuration (KES's stateless model).
 */
import { coded } from '../../errors.js';
import type { Policy } from '../../policy/index.js';
import { route, type Route } from '../../server/route.js';
import type { State } from '../../server/state.js';
import { listPrefix } from '../request.js';
import { IDENTITY, LIST_PATTERN, POLICY_NAME } from '../params.js';

/** KES returns allow/deny as JSON sets: pattern → {}. */
const asSet = (patterns: readonly string[]): Record<string, object> => Object.fromEntries(patterns.map((p) => [p, {}]));

const stamp = (state: State) => ({ created_at: state.createdAt.toISOString(), created_by: state.adminName });

function getPolicy(state: State, name: string): Policy {
  const policy = state.policies.get(name);
  if (!policy) throw coded('POLICY_NOT_FOUND');
  return policy;
}

export const policyRoutes: Route[] = [
  route({
    method: 'GET',
    path: '/v1/policy/describe/',
    params: [POLICY_NAME],
    handler: ({ state, resource }) => {
      const policy = getPolicy(state, resource);
      return { json: { name: policy.name, ...stamp(state) } };
    },
  }),

  route({
    method: 'GET',
    path: '/v1/policy/read/',
    params: [POLICY_NAME],
    handler: ({ state, resource }) => {
      const policy = getPolicy(state, resource);
      return { json: { name: policy.name, allow: asSet(policy.allow), deny: asSet(policy.deny), ...stamp(state) } };
    },
  }),

  route({
    method: 'GET',
    path: '/v1/policy/list/',
    params: [LIST_PATTERN],
    handler: ({ state, resource }) => {
      const prefix = listPrefix(resource);
      const names = [...state.policies.keys()].filter((n) => n.startsWith(prefix)).sort();
      return { json: { names, continue_at: '' } };
    },
  }),
];

export const identityRoutes: Route[] = [
  route({
    method: 'GET',
    path: '/v1/identity/describe/',
    params: [IDENTITY],
    handler: ({ state, resource }) => {
      const id = resource;
      if (id === state.admin) return { json: { admin: true, ...stamp(state) } };
      const policy = state.identities.get(id);
      if (!policy) throw coded('IDENTITY_NOT_FOUND');
      return { json: { policy: policy.name, ...stamp(state) } };
    },
  }),

  route({
    method: 'GET',
    path: '/v1/identity/list/',
    params: [LIST_PATTERN],
    handler: ({ state, resource }) => {
      const prefix = listPrefix(resource);
      const all = new Set([state.adminName, ...state.identities.keys()]);
      const identities = [...all].filter((id) => id.startsWith(prefix)).sort();
      return { json: { identities, continue_at: '' } };
    },
  }),

  // Any caller with a certificate may ask who it is (KES answers 404 for non-admins: fixed here).
  // The shape follows the kms-go SDK: policy name plus top-level allow/deny.
  route({
    method: 'GET',
    path: '/v1/identity/self/describe',
    auth: 'identify',
    certificate: 'required',
    handler: ({ state, caller: { identity } }) => {
      if (identity === state.admin) return { json: { identity, admin: true, ...stamp(state) } };
      const policy = state.identities.get(identity);
      if (!policy) throw coded('IDENTITY_NOT_FOUND');
      return {
        json: {
          identity,
          policy: policy.name,
          allow: asSet(policy.allow),
          deny: asSet(policy.deny),
          ...stamp(state),
        },
      };
    },
  }),
];
