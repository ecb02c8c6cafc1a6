/**
 * A group's settings: the node token TTL and how node ids are verified (the
 * group manager's callback, its OAuth endpoint and credentials, TLS trust and
 * timeout). Validation lives here so every surface (keygate's API, the RKS
 * API, the CLI through them) refuses the same values with the same message.
 */
import { X509Certificate } from 'node:crypto';
import { BadRequestError } from '../../errors.js';
import { refusedAddress } from './callback.js';

/**
 * How the OAuth client-credentials request is sent:
 * - `rks`: as Remote Key Server does — Basic auth AND `client_id`, `client_secret`,
 *   `grant_type=client_credentials` in the query string, empty body. Existing RKS
 *   group managers insist on exactly that.
 * - `form`: RFC 6749 §4.4 — Basic auth (§2.3.1) and `grant_type=client_credentials`
 *   in a form-encoded body; the secret never travels in a URL.
 */
export type OAuthMode = 'rks' | 'form';

export interface GroupSettings {
  /** Lifetime of node tokens in seconds; each renewal restores it in full (RKS: 600). */
  tokenTtl: number;
  /** '' = no verification; else `GET <callbackUrl>/<nodeId>` must answer 200. */
  callbackUrl: string;
  /** '' = call the callback without an Authorization header. */
  oauthUrl: string;
  oauthClientId: string;
  /** Never returned by any API: describe says only whether one is set. */
  oauthClientSecret: string;
  oauthMode: OAuthMode;
  /** PEM certificates trusted for the OAuth and callback servers instead of the system roots; '' = system roots. */
  callbackCa: string;
  /** Skips TLS verification of the OAuth and callback servers: an explicit opt-out, off by default. */
  callbackInsecure: boolean;
  /** Seconds the whole check (OAuth request + callback) may take. */
  callbackTimeout: number;
}

export type GroupSettingsUpdate = Partial<GroupSettings>;

export const DEFAULT_SETTINGS: Readonly<GroupSettings> = Object.freeze({
  tokenTtl: 600,
  callbackUrl: '',
  oauthUrl: '',
  oauthClientId: '',
  oauthClientSecret: '',
  oauthMode: 'form',
  callbackCa: '',
  callbackInsecure: false,
  callbackTimeout: 5,
});

/** 31 days: RKS's group-token period, and the longest a node token may live between renewals. */
export const MAX_TOKEN_TTL = 31 * 24 * 3600;
/** Registration runs inside a 15 s request: the check must end well before it. */
export const MAX_CALLBACK_TIMEOUT = 10;
const MIN_CALLBACK_TIMEOUT = 0.01;
const MAX_URL = 2048;
const MAX_CA = 64 * 1024;
const CONTROL = /[\x00-\x1f\x7f]/; // eslint-disable-line no-control-regex

/** The settings after applying `update` to `base`. @throws BadRequestError naming the first bad field. */
export function applySettings(base: Readonly<GroupSettings>, update: GroupSettingsUpdate): GroupSettings {
  const next: GroupSettings = { ...base };
  for (const [key, value] of Object.entries(update)) {
    if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  }
  validate(next);
  return next;
}

/**
 * Settings that decide where the stored OAuth client secret goes (the OAuth URL, and the TLS
 * trust both servers are reached with) or where the access token obtained with it goes (the
 * callback URL). `oauthOnly`: only guarded while an OAuth URL is set, since without one no
 * access token is ever sent to the callback.
 */
const SECRET_DESTINATIONS: ReadonlyArray<{ key: keyof GroupSettings; field: string; oauthOnly: boolean }> = [
  { key: 'oauthUrl', field: 'oauth_url', oauthOnly: false },
  { key: 'callbackCa', field: 'callback_ca', oauthOnly: false },
  { key: 'callbackInsecure', field: 'callback_insecure', oauthOnly: false },
  { key: 'callbackUrl', field: 'callback_url', oauthOnly: true },
];

/**
 * Refuses an update that would send the stored OAuth client secret (or an access token
 * obtained with it) to a destination chosen by a caller who did not supply the secret: whoever
 * may change where it goes must prove they know it, as Vault asks for the credential again
 * when its endpoint changes. Resending a field's current value is not a change (RKS's PUT
 * always sends all four of its fields, and with them the secret). Call it on the record being
 * replaced, inside the conditional update, so a concurrent secret change cannot slip between.
 * @throws BadRequestError naming the field
 */
export function checkSecretDestinations(before: Readonly<GroupSettings>, update: GroupSettingsUpdate): void {
  if (update.oauthClientSecret !== undefined || before.oauthClientSecret === '') return;
  for (const { key, field, oauthOnly } of SECRET_DESTINATIONS) {
    const value = update[key];
    if (value === undefined || value === before[key]) continue;
    if (oauthOnly && before.oauthUrl === '') continue;
    // Turning a destination off, or TLS verification back on, sends nothing anywhere new.
    if (value === '' && key !== 'callbackCa') continue;
    if (key === 'callbackInsecure' && value === false) continue;
    throw new BadRequestError(
      `changing ${field} requires oauth_client_secret in the same request: it decides where the group's OAuth secret or access token is sent`,
    );
  }
}

function validate(s: GroupSettings): void {
  if (!Number.isInteger(s.tokenTtl) || s.tokenTtl < 1 || s.tokenTtl > MAX_TOKEN_TTL) {
    throw new BadRequestError(`token_ttl must be a whole number of seconds from 1 to ${MAX_TOKEN_TTL}`);
  }
  checkURL('callback_url', s.callbackUrl, false);
  checkURL('oauth_url', s.oauthUrl, true);
  checkText('oauth_client_id', s.oauthClientId, 1024);
  checkText('oauth_client_secret', s.oauthClientSecret, 4096);
  if (s.oauthMode !== 'rks' && s.oauthMode !== 'form') throw new BadRequestError('oauth_mode must be "rks" or "form"');
  checkCA(s.callbackCa);
  if (typeof s.callbackInsecure !== 'boolean') throw new BadRequestError('callback_insecure must be true or false');
  const t = s.callbackTimeout;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < MIN_CALLBACK_TIMEOUT || t > MAX_CALLBACK_TIMEOUT) {
    throw new BadRequestError(`callback_timeout must be from ${MIN_CALLBACK_TIMEOUT} to ${MAX_CALLBACK_TIMEOUT} seconds`);
  }
}

/** '' or an https URL without credentials or fragment; the callback URL also without a query (node ids are appended). */
function checkURL(field: string, value: string, queryAllowed: boolean): void {
  if (typeof value !== 'string') throw new BadRequestError(`${field} must be a string`, { field });
  if (value === '') return;
  const rule = `${field} must be an https:// URL without credentials${queryAllowed ? '' : ', query'} or fragment`;
  if (value.length > MAX_URL || CONTROL.test(value)) throw new BadRequestError(rule, { field });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BadRequestError(rule, { field });
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || value.includes('#')) throw new BadRequestError(rule, { field });
  if (!queryAllowed && value.includes('?')) throw new BadRequestError(rule, { field });
  // Decided on the parser's normal form, so '0', '0x0' and '[::]' are all 0.0.0.0 or ::.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (refusedAddress(host, true) !== null)
    throw new BadRequestError(`${field} must not name an unspecified address (0.0.0.0, ::): it reaches this host`, { field });
}

function checkText(field: string, value: string, max: number): void {
  if (typeof value !== 'string' || value.length > max || CONTROL.test(value)) {
    throw new BadRequestError(`${field} must be at most ${max} printable characters`, { field });
  }
}

function checkCA(pem: string): void {
  if (typeof pem !== 'string') throw new BadRequestError('callback_ca must be a string');
  if (pem === '') return;
  const blocks = pem.length > MAX_CA ? null : pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new BadRequestError('callback_ca must hold one or more PEM certificates');
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw new BadRequestError('callback_ca must hold one or more PEM certificates');
    }
  }
}

/** Stored form (snake_case, as the API shows it). */
export function settingsToJSON(s: GroupSettings): Record<string, unknown> {
  return {
    token_ttl: s.tokenTtl,
    callback_url: s.callbackUrl,
    oauth_url: s.oauthUrl,
    oauth_client_id: s.oauthClientId,
    oauth_client_secret: s.oauthClientSecret,
    oauth_mode: s.oauthMode,
    callback_ca: s.callbackCa,
    callback_insecure: s.callbackInsecure,
    callback_timeout: s.callbackTimeout,
  };
}

/** Reads the stored form; missing fields take their defaults (records written by older versions). */
export function settingsFromJSON(o: Record<string, unknown>): GroupSettings {
  const d = DEFAULT_SETTINGS;
  const str = (k: string, def: string): string => (typeof o[k] === 'string' ? (o[k] as string) : def);
  const num = (k: string, def: number): number => (typeof o[k] === 'number' ? (o[k] as number) : def);
  return {
    tokenTtl: num('token_ttl', d.tokenTtl),
    callbackUrl: str('callback_url', d.callbackUrl),
    oauthUrl: str('oauth_url', d.oauthUrl),
    oauthClientId: str('oauth_client_id', d.oauthClientId),
    oauthClientSecret: str('oauth_client_secret', d.oauthClientSecret),
    oauthMode: o['oauth_mode'] === 'rks' ? 'rks' : 'form',
    callbackCa: str('callback_ca', d.callbackCa),
    callbackInsecure: o['callback_insecure'] === true,
    callbackTimeout: num('callback_timeout', d.callbackTimeout),
  };
}
