/**
 * Who is calling: one value, produced once per request by the dispatcher from
 * what the handshake and the presented credentials prove, and handed to every
 * handler. No handler reads a certificate or a token header itself, and every
 * credential check — certificate policy, each token kind, RKS's init token and
 * admin login — lives here, so every failure passes through the dispatcher and
 * is counted by the one failed-authentication throttle.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { BadRequestError, NotAuthorizedError, coded } from '../errors.js';
import type { State } from '../server/state.js';
import type { AuthMode, Route } from '../server/route.js';
import { InvalidTokenError, looksLikeToken, type TokenRecord } from '../core/fleet/tokens.js';
import { optionalPeerIdentity, peerIdentity } from './peer.js';
import { checkSameOrigin, csrfToken, isWrite, presentedCsrf, sessionCookie, SessionEndedError, SESSION_POLICY } from './session.js';

export type CallerKind =
  /** The configured admin identity. */
  | 'admin'
  /** A certificate identity whose policy allowed the path. */
  | 'identity'
  /** A node: by node token, or by a certificate enrolled in its group. */
  | 'node'
  /** A group token (registers and enrolls nodes). */
  | 'group'
  /** RKS's init token (RKS calls it the root token). */
  | 'rks-root'
  /** A live RKS admin token. */
  | 'rks-admin'
  /** The RKS admin in the dashboard, by session cookie (auth/session.ts): SESSION_POLICY applies. */
  | 'session'
  /** Nobody in particular: routes without credentials, or a login in progress. */
  | 'anonymous';

export interface Caller {
  readonly kind: CallerKind;
  /** The certificate identity the handshake proved, or '' when no certificate was presented. */
  readonly identity: string;
  /** The token this caller authenticated with, or ''. Only set once it has been checked. */
  readonly token: string;
  /** The caller's name in the audit log and in `created_by` fields. */
  readonly principal: string;
  /** The group of a node or group token, or of an enrolled node; '' otherwise. */
  readonly group: string;
}

export const ANONYMOUS: Caller = { kind: 'anonymous', identity: '', token: '', principal: '', group: '' };

/** Marks a refusal that is an answer, not a guess: a valid credential of the wrong kind. */
const UNCOUNTED = Symbol('uncounted');

/** Whether a failed authentication counts towards the throttle (a guessed credential does). */
export function countsAsFailure(err: unknown): boolean {
  return !(err instanceof Error && (err as Error & { [UNCOUNTED]?: boolean })[UNCOUNTED] === true);
}

function uncounted<E extends Error>(err: E): E {
  (err as E & { [UNCOUNTED]?: boolean })[UNCOUNTED] = true;
  return err;
}

/** Equal strings, compared in constant time whatever their lengths. */
export function safeEqual(a: string, b: string): boolean {
  const digest = (s: string) => hash('sha256', s, 'buffer');
  return timingSafeEqual(digest(a), digest(b));
}

/** The token of `Authorization: Bearer …`, else of `X-Vault-Token` (RKS), else ''. */
export function bearerToken(req: IncomingMessage): string {
  const auth = req.headers['authorization'];
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const vault = req.headers['x-vault-token'];
  return typeof vault === 'string' ? vault.trim() : '';
}

/** Whether a certificate identity may call `path` by policy: the admin, or its policy allows it. */
export function allowedByPolicy(state: State, identity: string, path: string): boolean {
  if (identity === '') return false;
  return identity === state.admin || state.identities.get(identity)?.verify(path) === true;
}

/** Whether a caller may call `path` by policy: its certificate's, or a session's SESSION_POLICY. */
export function callerAllows(state: State, caller: Caller, path: string): boolean {
  return caller.kind === 'session' ? SESSION_POLICY.verify(path) : allowedByPolicy(state, caller.identity, path);
}

/** What the dispatcher knows when it authenticates a request. */
export interface CredentialInput {
  readonly req: IncomingMessage;
  readonly state: State;
  readonly route: Route;
  /** The canonical path and names (see server/canonical.ts). */
  readonly path: string;
  readonly params: readonly string[];
  /** The body, read before authentication only for `rks-login`. */
  readonly body?: Buffer;
}

/**
 * The caller of a request, by the route's auth mode. Synchronous for certificate
 * policy (the hot path); a promise where a token must be looked up.
 * @throws BadRequestError (no usable certificate), NotAuthorizedError
 */
export function authenticate(input: CredentialInput): Caller | Promise<Caller> {
  const caller = byMode(input);
  if (input.route.certificate !== 'required') return caller;
  return caller instanceof Promise ? caller.then(withCertificate) : withCertificate(caller);
}

/** A route that needs a client certificate whatever else its mode accepted: KES's 400 without one (not counted: nothing was guessed). */
function withCertificate(caller: Caller): Caller {
  if (caller.identity === '') throw uncounted(coded('CERTIFICATE_REQUIRED'));
  return caller;
}

function byMode(input: CredentialInput): Caller | Promise<Caller> {
  const socket = input.req.socket as TLSSocket;
  const mode: AuthMode = input.route.auth;
  switch (mode) {
    case 'none':
      return ANONYMOUS;
    case 'identify': {
      const identity = optionalPeerIdentity(socket);
      if (identity === '' && sessionCookie(input.req) !== '' && bearerToken(input.req) === '') return bySession(input, true);
      return identity === '' ? ANONYMOUS : { ...ANONYMOUS, kind: 'identity', identity, principal: identity };
    }
    case 'policy':
      return byPolicy(input, socket);
    case 'group-token':
      return byGroupToken(input, optionalPeerIdentity(socket));
    case 'node-token':
      return byNodeToken(input);
    case 'node':
      return byNodeCredential(input, optionalPeerIdentity(socket));
    case 'rks-admin':
      return rksAdmin(input, false);
    case 'rks-init':
      return rksAdmin(input, true);
    case 'rks-login':
      return rksLogin(input);
    case 'rks-reader':
      return rksReader(input);
    case 'rks-renew':
      return rksRenew(input);
    case 'rks-revoke':
      return rksRenew(input).then(notGroup);
  }
}

function byPolicy(input: CredentialInput, socket: TLSSocket): Caller | Promise<Caller> {
  const { state, path, route } = input;
  const grant = route.grant;
  // A browser without a certificate, logged in to the dashboard: its session, by SESSION_POLICY.
  if (sessionCookie(input.req) !== '' && bearerToken(input.req) === '' && optionalPeerIdentity(socket) === '') return bySession(input, false);
  if (!grant) {
    const identity = peerIdentity(socket); // 400 without a usable certificate
    if (allowedByPolicy(state, identity, path)) return certificateCaller(state, identity);
    throw new NotAuthorizedError();
  }
  const identity = optionalPeerIdentity(socket);
  if (allowedByPolicy(state, identity, path)) return certificateCaller(state, identity);
  const token = bearerToken(input.req);
  if (identity === '' && token === '') peerIdentity(socket); // throws the KES "certificate required" 400
  return (async () => {
    const principal = await grant({ state, identity, token, path, params: input.params, resource: input.params[0] ?? '' });
    if (principal === null) throw new NotAuthorizedError();
    return { kind: 'node', identity, token, principal, group: groupOfPrincipal(principal) };
  })();
}

function certificateCaller(state: State, identity: string): Caller {
  return { kind: identity === state.admin ? 'admin' : 'identity', identity, token: '', principal: identity, group: '' };
}

/** `node:<group>/<node id>` → `<group>` */
function groupOfPrincipal(principal: string): string {
  return principal.startsWith('node:') ? principal.slice(5, principal.indexOf('/') < 0 ? undefined : principal.indexOf('/')) : '';
}

function requireToken(input: CredentialInput, rks: boolean): string {
  const token = bearerToken(input.req);
  if (token !== '') return token;
  throw coded(rks ? 'RKS_TOKEN_REQUIRED' : 'TOKEN_REQUIRED');
}

/**
 * Refuses a token that failed a route's check. A token the service issued and that is
 * still stored (of another kind, another group, a rotated generation) is refused without
 * counting: it was handed out, not guessed.
 */
async function refuseToken(state: State, token: string, refusal: Error): Promise<never> {
  if (looksLikeToken(token) && (await state.tokens.lookup(token)) !== null) throw uncounted(refusal);
  throw refusal;
}

async function byGroupToken(input: CredentialInput, identity: string): Promise<Caller> {
  const token = requireToken(input, input.route.errors === 'text');
  const group = await input.state.groups.authenticate(token).catch((err: unknown) => {
    if (err instanceof InvalidTokenError) return null;
    throw err; // a keystore failure is not a refusal
  });
  if (!group) return refuseToken(input.state, token, new InvalidTokenError());
  return { kind: 'group', identity, token, principal: `group:${group.name}`, group: group.name };
}

async function byNodeToken(input: CredentialInput): Promise<Caller> {
  const token = requireToken(input, false);
  const node = await input.state.nodes.authenticate(token);
  if (!node) return refuseToken(input.state, token, new InvalidTokenError());
  return { kind: 'node', identity: '', token, principal: `node:${node.group.name}/${node.nodeId}`, group: node.group.name };
}

/** A node token, else a certificate enrolled in a group; nothing else is a node. */
async function byNodeCredential(input: CredentialInput, identity: string): Promise<Caller> {
  const token = bearerToken(input.req);
  if (token !== '') {
    const node = await input.state.nodes.authenticate(token);
    if (!node) return refuseToken(input.state, token, new InvalidTokenError());
    return { kind: 'node', identity, token, principal: `node:${node.group.name}/${node.nodeId}`, group: node.group.name };
  }
  if (identity === '') peerIdentity(input.req.socket as TLSSocket); // the 400 that says a certificate is needed
  const found = await input.state.nodes.readableBundles(identity, '');
  if (!found) throw new NotAuthorizedError();
  return { kind: 'node', identity, token: '', principal: found.principal, group: groupOfPrincipal(found.principal) };
}

/**
 * RKS's admin credentials: the init token, or (unless `initOnly`) a live admin token
 * of the configured login issued under the current admin credentials. A live token of
 * another kind is refused without counting: it was not guessed.
 */
async function rksAdmin(input: CredentialInput, initOnly: boolean): Promise<Caller> {
  const token = requireToken(input, true);
  const admin = await adminCaller(input.state, token, initOnly);
  if (admin) return admin;
  const refusal = input.route.refused?.() ?? coded('PERMISSION_DENIED');
  if (initOnly) throw refusal; // only the init token opens it: any token offered is a guess
  return refuseToken(input.state, token, refusal);
}

/** The admin caller a token proves, or null. */
async function adminCaller(state: State, token: string, initOnly: boolean): Promise<Caller | null> {
  const { initToken } = state.rks;
  if (initToken !== null && safeEqual(token, initToken)) return { kind: 'rks-root', identity: '', token, principal: 'rks-root', group: '' };
  if (initOnly) return null;
  const record = await liveAdminToken(state, token);
  return record ? { kind: 'rks-admin', identity: '', token, principal: `rks-admin:${record.node}`, group: '' } : null;
}

/**
 * The record of a live admin token of the configured login issued under the admin
 * credentials in force: a password change (and reload) kills every earlier admin token.
 */
export async function liveAdminToken(state: State, token: string): Promise<TokenRecord | null> {
  const { admin } = state.rks;
  if (admin === null || !token.startsWith('kga_')) return null;
  const record = await state.tokens.lookup(token);
  if (record?.kind !== 'admin' || record.node !== admin.login || !safeEqual(record.generation, admin.generation)) return null;
  return record;
}

/**
 * The caller a dashboard session cookie proves: only from the dashboard's own origin,
 * with the session's CSRF token on every write, while the admin token it holds is live
 * (auth/session.ts). On `policy` routes SESSION_POLICY must allow the path; on
 * `identify` routes (`optional`) it need not. A dead session is refused everywhere (a guess
 * counts, whichever route it is sent to) and its cookie cleared.
 */
async function bySession(input: CredentialInput, optional: boolean): Promise<Caller> {
  const { req, state } = input;
  checkSameOrigin(req);
  const token = sessionCookie(req);
  const record = await liveAdminToken(state, token);
  if (!record) throw new SessionEndedError();
  if (isWrite(req) && !safeEqual(presentedCsrf(req), csrfToken(token))) {
    throw coded('SESSION_CSRF_REQUIRED');
  }
  if (!optional && !SESSION_POLICY.verify(input.path)) throw new NotAuthorizedError();
  return { kind: 'session', identity: '', token, principal: `session:${record.node}`, group: '' };
}

async function rksLogin(input: CredentialInput): Promise<Caller> {
  const { admin } = input.state.rks;
  if (admin === null) throw uncounted(coded('RKS_ADMIN_NOT_CONFIGURED'));
  const login = input.route.login;
  if (!login || input.body === undefined) throw coded('INTERNAL', ['rks-login route without a credentials decoder']);
  const creds = login(input.body, input.req); // 400 for a malformed body: counted like a wrong password
  // Both compared, always: the time taken says nothing about which one was wrong.
  const loginOk = safeEqual(creds.login, admin.login);
  const passwordOk = safeEqual(creds.password, admin.password);
  if (!loginOk || !passwordOk) throw new BadRequestError('invalid username or password');
  return { kind: 'rks-admin', identity: '', token: '', principal: `rks-admin:${admin.login}`, group: '' };
}

/**
 * An RKS admin credential, or a node token that the route's grant admits (a secret its
 * group is associated with). A live node token refused by the grant is not counted: it
 * was handed out, not guessed.
 */
async function rksReader(input: CredentialInput): Promise<Caller> {
  const token = requireToken(input, true);
  const { state, route } = input;
  const admin = await adminCaller(state, token, false);
  if (admin) return admin;
  const refusal = () => route.refused?.() ?? coded('PERMISSION_DENIED');
  const node = await state.nodes.authenticate(token);
  if (!node) return refuseToken(state, token, refusal());
  const caller: Caller = { kind: 'node', identity: '', token, principal: `node:${node.group.name}/${node.nodeId}`, group: node.group.name };
  const grant = route.grant;
  if (grant && (await grant({ state, identity: '', token, path: input.path, params: input.params, resource: input.params[0] ?? '' })) === null) {
    throw uncounted(refusal());
  }
  return caller;
}

/** revoke-self: a group token is refused (uncounted: it is live), as it ends only by rotating its group. */
function notGroup(caller: Caller): Caller {
  if (caller.kind === 'group') throw uncounted(coded('RKS_RENEW_GROUP_TOKEN'));
  return caller;
}

/** A renewable RKS token: an admin token, a node token, or a group token (renew-self). */
async function rksRenew(input: CredentialInput): Promise<Caller> {
  const token = requireToken(input, true);
  const { state } = input;
  const refusal = () => input.route.refused?.() ?? new InvalidTokenError();
  const record = looksLikeToken(token) ? await state.tokens.lookup(token) : null;
  if (!record) throw refusal();
  if (record.kind === 'admin') {
    if (!(await liveAdminToken(state, token))) throw refusal();
    return { kind: 'rks-admin', identity: '', token, principal: `rks-admin:${record.node}`, group: '' };
  }
  if (record.kind === 'group') {
    const group = await state.groups.authenticate(token).catch((err: unknown) => {
      if (err instanceof InvalidTokenError) return null;
      throw err;
    });
    if (!group) throw refusal();
    return { kind: 'group', identity: '', token, principal: `group:${group.name}`, group: group.name };
  }
  const node = await state.nodes.authenticate(token);
  if (!node) throw refusal();
  return { kind: 'node', identity: '', token, principal: `node:${node.group.name}/${node.nodeId}`, group: node.group.name };
}
