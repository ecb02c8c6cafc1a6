/**
 * Names of certificate bundles, their keystore entries, listing prefixes and
 * the server names (SNI) bundles are looked up by. Pure: no I/O.
 *
 * A bundle name is the FQDN-ish name RKS gives its secrets: characters of
 * [0-9A-Za-z_.-], not starting with '.', without '..' (Vault refuses paths
 * that contain it). A wildcard FQDN is named as written, `*.example.com`: a
 * leading `*.` is allowed and stored as `_.`, so its entry is
 * `bundle._.example.com`. To keep that mapping one-to-one, plain names may not
 * have `_` as their first label (no DNS host is called `_`).
 */
import { isIP } from 'node:net';
import { ipAddressBytes } from '../../pki/extensions.js';

/** Entries of bundles are `bundle.<name>`. */
export const BUNDLE_ENTRY_PREFIX = 'bundle.';

/**
 * Longest bundle name: `bundle.` plus the name must fit the keystore's
 * 255-character entry names, so 248 rather than DNS's 253.
 */
export const MAX_BUNDLE_NAME = 248;

const PLAIN = /^[0-9A-Za-z_-][0-9A-Za-z_.-]*$/;

function isPlainName(s: string): boolean {
  return PLAIN.test(s) && !s.includes('..') && s !== '_' && !s.startsWith('_.');
}

/** Whether `name` is a valid bundle name (see the module comment). */
export function isValidBundleName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_BUNDLE_NAME) return false;
  return name.startsWith('*.') ? isPlainName(name.slice(2)) : isPlainName(name);
}

/** Explains the rules; the stable text of every invalid-name error. */
export const BUNDLE_NAME_RULES =
  `1–${MAX_BUNDLE_NAME} characters of [0-9A-Za-z_.-], optionally after a leading '*.', ` + `not starting with '.' or '_.', without '..'`;

/** The one message for an invalid bundle name, echoing it bounded and printable. */
export function invalidBundleNameMessage(name: string): string {
  const shown = name.length > 100 ? name.slice(0, 100) + '…' : name;
  return `invalid bundle name '${shown.replace(/[^\x20-\x7e…]/g, '?')}': use ${BUNDLE_NAME_RULES}`;
}

/** The keystore entry of a valid bundle name. */
export function entryOf(name: string): string {
  return BUNDLE_ENTRY_PREFIX + (name.startsWith('*') ? '_' + name.slice(1) : name);
}

/** The bundle name of an entry under BUNDLE_ENTRY_PREFIX (inverse of entryOf). */
export function nameOfEntry(entry: string): string {
  const rest = entry.slice(BUNDLE_ENTRY_PREFIX.length);
  return rest.startsWith('_.') ? '*' + rest.slice(1) : rest;
}

/**
 * Whether `prefix` can start a bundle name: '' or any leading part of a valid
 * name ('*', '*.', 'www.', '*.exa' all can).
 */
export function isValidBundlePrefix(prefix: string): boolean {
  if (prefix === '' || prefix === '*') return true;
  if (prefix.length > MAX_BUNDLE_NAME || prefix.includes('..')) return false;
  const plain = prefix.startsWith('*.') ? prefix.slice(2) : prefix;
  if (plain === '' || plain === '_') return true;
  return PLAIN.test(plain) && !plain.startsWith('_.');
}

/**
 * The entry prefix to list for a bundle-name prefix. Listing `_` also returns
 * wildcard entries (`_.…`); callers drop names that do not start with `prefix`.
 */
export function entryPrefixOf(prefix: string): string {
  return BUNDLE_ENTRY_PREFIX + (prefix.startsWith('*') ? '_' + prefix.slice(1) : prefix);
}

/** A server name to look up: a DNS name (lowercase, no trailing dot) or an IP address. */
export type ServerName = { kind: 'dns'; name: string } | { kind: 'ip'; bytes: Buffer };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Parses an SNI value (or an IP literal, for clients that connect by address).
 * Returns null for anything else, including names with wildcards.
 */
export function parseServerName(raw: string): ServerName | null {
  const literal = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(literal) !== 0) {
    try {
      return { kind: 'ip', bytes: ipAddressBytes(literal) };
    } catch {
      return null; // an IPv6 zone id: meaningless off its host
    }
  }
  const name = (raw.endsWith('.') ? raw.slice(0, -1) : raw).toLowerCase();
  if (name.length === 0 || name.length > 253) return null;
  return name.split('.').every((l) => LABEL.test(l)) ? { kind: 'dns', name } : null;
}

/**
 * The index keys a SAN is filed under: `dns:<lowercase name>` (wildcards keep
 * their `*.`) or `ip:<hex bytes>`.
 */
export const dnsKey = (name: string): string => 'dns:' + (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
export const ipKey = (bytes: Buffer): string => 'ip:' + bytes.toString('hex');

/**
 * Keys to look a server name up under, best first: the exact name, then the
 * one-label wildcard that covers it (`a.example.com` → `*.example.com`;
 * a single-label name has no wildcard, and `*.example.com` never covers
 * `example.com` or `a.b.example.com`).
 */
export function lookupKeys(sni: ServerName): { exact: string; wildcard: string | null } {
  if (sni.kind === 'ip') return { exact: ipKey(sni.bytes), wildcard: null };
  const dot = sni.name.indexOf('.');
  return { exact: dnsKey(sni.name), wildcard: dot < 0 ? null : dnsKey('*' + sni.name.slice(dot)) };
}
