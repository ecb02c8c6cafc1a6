/**
 * Where and how entries sit in Vault: one strategy object per KV version, so
 * the adapter itself never asks which version it talks to.
 *
 * Layout — identical to MinIO KES, so entries KES wrote are served unchanged
 * (`<prefix>/` is left out when no prefix is configured):
 *
 * | | KV v1 | KV v2 |
 * | --- | --- | --- |
 * | entry    | `<engine>/<prefix>/<name>` | `<engine>/data/<prefix>/<name>` |
 * | listing  | `<engine>/<prefix>/`       | `<engine>/metadata/<prefix>/`   |
 * | delete   | `<engine>/<prefix>/<name>` | `<engine>/metadata/<prefix>/<name>` (every version) |
 * | version  | first 32 hex digits of SHA-256(value) | `<KV v2 version>-g<generation>` (`<KV v2 version>` for entries written before generations) |
 *
 * Listing is Vault's LIST operation, sent as `GET …?list=true`.
 *
 * The secret's data map holds one field named after the entry whose string
 * value is the entry's value, when the value is valid UTF-8 (KES keys are
 * base64 text, keygate's other entries JSON):
 *
 *     {"my-key": "<value as text>"}
 *
 * Any other value is stored base64-encoded under the extra field `keygate:b64`,
 * with the entry's own field left empty:
 *
 *     {"my-key": "", "keygate:b64": "<base64 of the bytes>"}
 *
 * Decoding rule: if `keygate:b64` is present the value is its base64 decoding,
 * otherwise it is the UTF-8 encoding of the entry's field. No KES entry can be
 * mistaken for the binary form, because ':' never occurs in a KES key name (nor
 * in any entry name), so `keygate:b64` is never an entry's own field.
 *
 * Generations (KV v2, no ABA): KV v2 restarts version numbers at 1 after a
 * metadata delete, so an update holding version 3 of a deleted entry would
 * apply to version 3 of a new entry of the same name. Every entry therefore
 * carries a random generation, chosen at create and kept by updates, in the
 * extra field `keygate:gen` (KES reads only the entry's own field and ignores
 * it); the version string names both, and an update checks both. Entries
 * without the field (written by KES or an older keygate) read as before and get
 * a generation at their next update. The generation is checked on a read just
 * before the check-and-set write; only a delete, a re-create and enough updates
 * to reach the same version number between those two requests could slip
 * through. KV v1 versions are content hashes: an
 * update applies only to the very bytes it read, whoever wrote them.
 *
 * KV v1 parses a `ttl` or `lease` field of any secret as a lease duration and
 * refuses writes where it is not one; entries of those two names therefore
 * always use the binary form, whose empty own field Vault ignores.
 */
import { hash, randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { field, type VaultRequest, type VaultResponse } from './http.js';

/** The extra field of a value that is not UTF-8 text. */
export const BINARY_FIELD = 'keygate:b64';
/** The extra field holding a KV v2 entry's generation (see above). */
export const GENERATION_FIELD = 'keygate:gen';

/** A fresh generation: 16 hex digits. */
export function newGeneration(): string {
  return randomBytes(8).toString('hex');
}

/** What reading an entry's path found. */
export type KVRead =
  /** `generation`: KV v2 entries written with one; '' otherwise. */
  | { kind: 'found'; value: Buffer; version: string; generation: string }
  | { kind: 'missing' }
  /** KV v2 only: the current version was soft-deleted or destroyed by someone else. */
  | { kind: 'deleted'; version: number }
  /** The secret exists but is not in the layout above; `reason` names no value. */
  | { kind: 'malformed'; reason: string };

export interface KVStrategy {
  readonly version: 'v1' | 'v2';
  /** Path read and written for one entry. */
  entryPath(name: string): string;
  /** Path whose DELETE removes an entry together with every old version. */
  deletePath(name: string): string;
  /** Folder whose LIST names every entry. */
  readonly listPath: string;
  /** The check-and-set value of a create: undefined when the engine has none (the caller must check first). */
  readonly createCAS: number | undefined;
  /**
   * Body of a write. `cas` is the version the write must replace (0 = must not
   * exist); undefined writes unconditionally. `generation` is stored where the
   * engine keeps one (KV v2).
   */
  writeRequest(name: string, value: Buffer, cas: number | undefined, generation?: string): VaultRequest;
  /**
   * The check-and-set value that makes a write replace exactly `expectedVersion`:
   * undefined when the engine has no check-and-set (the caller must compare
   * first), -1 when `expectedVersion` can never match. The generation part of a
   * version is checked by the caller against a read (see above).
   */
  casFor(expectedVersion: string): number | undefined;
  /** Interprets a 200/404 answer to a read of `entryPath(name)`; other statuses are the caller's. */
  decodeRead(name: string, res: VaultResponse): KVRead;
  /** The version a successful write (with `generation`) created, or undefined when the answer does not say. */
  writtenVersion(value: Buffer, res: VaultResponse, generation: string): string | undefined;
}

/** Builds the strategy for a mount at `engine` holding entries under `prefix` ('' = none). */
export function kvStrategy(version: 'v1' | 'v2', engine: string, prefix: string): KVStrategy {
  const under = (area: string): string => [engine, area, prefix].filter((s) => s !== '').join('/') + '/';
  return version === 'v1' ? kvV1(under('')) : kvV2(under('data'), under('metadata'));
}

function kvV1(folder: string): KVStrategy {
  return {
    version: 'v1',
    entryPath: (name) => folder + name,
    deletePath: (name) => folder + name,
    listPath: folder,
    createCAS: undefined,
    writeRequest: (name, value) => ({ method: 'PUT', path: folder + name, body: encodeFields(name, value, name === 'ttl' || name === 'lease') }),
    casFor: () => undefined,
    decodeRead(name, res) {
      if (res.status === 404) return { kind: 'missing' };
      const data = field(res.body, 'data');
      const value = decodeFields(name, data);
      return typeof value === 'string' ? { kind: 'malformed', reason: value } : { kind: 'found', value, version: contentVersion(value), generation: '' };
    },
    writtenVersion: (value) => contentVersion(value),
  };
}

function kvV2(data: string, metadata: string): KVStrategy {
  return {
    version: 'v2',
    entryPath: (name) => data + name,
    deletePath: (name) => metadata + name,
    listPath: metadata,
    createCAS: 0,
    writeRequest: (name, value, cas, generation) => ({
      method: 'PUT',
      path: data + name,
      body: {
        data: { ...encodeFields(name, value, false), ...(generation !== undefined && generation !== '' && { [GENERATION_FIELD]: generation }) },
        ...(cas !== undefined && { options: { cas } }),
      },
    }),
    casFor: (expected) => {
      const m = V2_VERSION.exec(expected);
      return m ? Number(m[1]) : -1;
    },
    decodeRead(name, res) {
      const body = field(res.body, 'data');
      const version = field(field(body, 'metadata'), 'version');
      if (res.status === 404) {
        // A soft-deleted or destroyed current version answers 404 with its metadata.
        return typeof version === 'number' ? { kind: 'deleted', version } : { kind: 'missing' };
      }
      if (typeof version !== 'number') return { kind: 'malformed', reason: 'no version in metadata' };
      const fields = field(body, 'data');
      const value = decodeFields(name, fields);
      if (typeof value === 'string') return { kind: 'malformed', reason: value };
      const generation = field(fields, GENERATION_FIELD);
      if (generation !== undefined && (typeof generation !== 'string' || !GENERATION.test(generation))) {
        return { kind: 'malformed', reason: `field '${GENERATION_FIELD}' is not a generation` };
      }
      return { kind: 'found', value, version: v2Version(version, generation ?? ''), generation: generation ?? '' };
    },
    writtenVersion(_value, res, generation) {
      const version = field(field(res.body, 'data'), 'version');
      return typeof version === 'number' ? v2Version(version, generation) : undefined;
    },
  };
}

const GENERATION = /^[0-9a-f]{16}$/;
/** `<version>` or `<version>-g<generation>`. */
const V2_VERSION = /^([1-9][0-9]{0,14})(?:-g[0-9a-f]{16})?$/;

function v2Version(version: number, generation: string): string {
  return generation === '' ? String(version) : `${version}-g${generation}`;
}

/** True for Vault's answer to a KV v2 write whose check-and-set did not match. Vault has no error codes: its words are the only signal (external text, allowed in test/build/no-message-matching.test.ts). */
export function isCASMismatch(res: VaultResponse): boolean {
  return res.status === 400 && res.errors.some((e) => e.includes('check-and-set parameter did not match'));
}

/** Version of a KV v1 entry, which Vault does not version: derived from the content. */
export function contentVersion(value: Buffer): string {
  return hash('sha256', value, 'hex').slice(0, 32);
}

function encodeFields(name: string, value: Buffer, forceBinary: boolean): Record<string, string> {
  if (!forceBinary && isUtf8(value)) return { [name]: value.toString('utf8') };
  return { [name]: '', [BINARY_FIELD]: value.toString('base64') };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The entry's bytes, or a description of what is wrong (never containing the value). */
function decodeFields(name: string, data: unknown): Buffer | string {
  if (data === null || typeof data !== 'object') return 'no data';
  const binary = field(data, BINARY_FIELD);
  if (binary !== undefined) {
    if (typeof binary !== 'string' || !BASE64.test(binary)) return `field '${BINARY_FIELD}' is not base64`;
    return Buffer.from(binary, 'base64');
  }
  const text = field(data, name);
  if (typeof text !== 'string') return text === undefined ? `no field '${name}'` : `field '${name}' is not a string`;
  return Buffer.from(text, 'utf8');
}
