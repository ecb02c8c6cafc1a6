/**
 * Master keys (the KES key API): create, import, describe, delete, list, and
 * the cryptographic operations done with them, and their versions (rotate,
 * rewrap, min_decryption_version). Keys are stored in KES's own encoding under
 * their bare name, so a keystore written by KES can be served; a rotated key is
 * a ring of versions under the same name (src/crypto/key-ring.ts).
 *
 * Hot path: one keystore read per request (as before versions existed; the read
 * cache answers it) and no decoding: the decoded ring is kept per entry version.
 * The `peek…` methods answer from memory (the memory keystore, or a fresh slot of
 * the read cache) synchronously, so a handler can reply in the tick the request
 * arrived in; they return undefined when the key would take I/O.
 */
import { randomBytes } from 'node:crypto';
import { BadRequestError, ExistsError, coded } from '../../errors.js';
import {
  SecretKey,
  encodeKey,
  decodeKeyRing,
  freshRandom,
  nextVersion,
  DecryptionError,
  RetiredVersionError,
  type Algorithm,
  type KeyRing,
} from '../../crypto/index.js';
import { peekOf, type Entry, type KeyStore, type Peek } from '../../../keystores/keystore.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';
import { isValidName } from '../names.js';
import { listKind, pastDottedBlock, type EntryKind } from '../../../keystores/listing.js';
import { DecodeMemo } from '../decode-memo.js';
import { changeRing } from './versions.js';

/** Key entries are the entries named as keys are: every other kind's name contains '.'. */
const KEY_ENTRIES: EntryKind = { owns: isValidName, skipTo: pastDottedBlock('') };

/** Ciphers KES accepts on import, by every name it ever used for them. */
const IMPORT_CIPHERS = new Map<string, Algorithm>([
  ['AES256', 'AES256'],
  ['AES256-GCM_SHA256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
]);

export interface KeyVersionDescription {
  version: number;
  createdAt?: Date;
  createdBy?: string;
}

export interface KeyDescription {
  name: string;
  /** The latest version's cipher (what encrypt uses). */
  algorithm: Algorithm;
  /** Of version 1: when and by whom the key was created or imported. */
  createdAt?: Date;
  createdBy?: string;
  latestVersion: number;
  minDecryptionVersion: number;
  /** Oldest first. */
  versions: KeyVersionDescription[];
}

export interface DataKey {
  plaintext: Buffer;
  ciphertext: Buffer;
}

export interface KeyPage {
  names: string[];
  continueAt: string;
}

/** Length of a generated data key, as KES: always 256 bits. */
const DEK_BYTES = 32;
/** Decoded keys kept (least recently used first out). */
const DECODED_KEYS = 1024;

export class KeyService {
  /** Decoded rings of recently used keys, by name, for the entry version they came from. */
  private readonly decoded = new DecodeMemo<KeyRing>(DECODED_KEYS);
  /** Descriptions of decoded rings, so a describe of an unchanged key builds nothing. */
  private readonly descriptions = new WeakMap<KeyRing, KeyDescription>();

  /** The store's memory (the memory store, the read cache), when it has one: the fast path. */
  private readonly peekEntry: Peek;

  constructor(private readonly store: KeyStore) {
    this.peekEntry = peekOf(store);
  }

  async create(name: string, createdBy: string): Promise<void> {
    const key = SecretKey.generate('AES256');
    await this.put(name, encodeKey({ key, createdAt: new Date(), createdBy }));
  }

  async import(name: string, raw: Buffer, cipher: string, createdBy: string): Promise<void> {
    const algorithm = IMPORT_CIPHERS.get(cipher);
    if (!algorithm) throw coded('UNSUPPORTED_CIPHER');
    if (raw.length !== 32) throw coded('INVALID_KEY_SIZE');
    const key = new SecretKey(algorithm, raw, randomBytes(32));
    await this.put(name, encodeKey({ key, createdAt: new Date(), createdBy }));
  }

  async describe(name: string): Promise<KeyDescription> {
    return this.describeOf(name, await this.load(name));
  }

  async delete(name: string): Promise<void> {
    try {
      await this.store.delete(name);
    } catch (err) {
      throw translateStoreError(err, texts('delete'));
    } finally {
      this.decoded.forget(name);
    }
  }

  /**
   * Adds a version, of the latest version's cipher, which encrypt and generate use from
   * now on; older versions keep decrypting. Concurrent rotations each add one.
   * @throws NotFoundError, ConflictError (after many lost races), UnavailableError
   */
  async rotate(name: string, createdBy: string): Promise<KeyDescription> {
    const ring = await changeRing(this.store, name, (r) => r.rotated(nextVersion(r, new Date(), createdBy)), texts('rotate'));
    return describeRing(name, ring);
  }

  /**
   * Sets min_decryption_version: ciphertexts of older versions are refused from now on
   * (their versions are kept, so lowering it again brings them back, as in Vault).
   * @throws BadRequestError (outside 1…latest), NotFoundError, ConflictError, UnavailableError
   */
  async setMinDecryptionVersion(name: string, min: number): Promise<KeyDescription> {
    const ring = await changeRing(this.store, name, (r) => (r.minDecryptionVersion === min ? r : r.withMinDecryptionVersion(min)), texts('update'));
    return describeRing(name, ring);
  }

  /**
   * One page of key names starting with `prefix`, from `continueAt` on; `continueAt` of the
   * page is always a key name. Keys have no entry prefix (KES's layout), so entries of other
   * kinds (`group.…`, `token.…`: names with '.') share the range: they are skipped a block at
   * a time, however many there are, and never become the cursor.
   */
  async list(prefix: string, continueAt: string, limit = 1000): Promise<KeyPage> {
    try {
      return await listKind(this.store, prefix, continueAt, limit, KEY_ENTRIES);
    } catch (err) {
      throw translateStoreError(err, texts('list'));
    }
  }

  async generate(name: string, context: Buffer | undefined): Promise<DataKey> {
    return dataKey(await this.load(name), context);
  }

  async encrypt(name: string, plaintext: Buffer, context: Buffer | undefined): Promise<Buffer> {
    return (await this.load(name)).encrypt(plaintext, context);
  }

  async decrypt(name: string, ciphertext: Buffer, context: Buffer | undefined): Promise<Buffer> {
    return open(await this.load(name), ciphertext, context);
  }

  /** `describe` from memory; undefined when that would take I/O (then call `describe`). */
  peekDescribe(name: string): KeyDescription | undefined {
    const ring = this.peek(name);
    return ring && this.describeOf(name, ring);
  }

  /** `generate` from memory; undefined when that would take I/O. */
  peekGenerate(name: string, context: Buffer | undefined): DataKey | undefined {
    const ring = this.peek(name);
    return ring && dataKey(ring, context);
  }

  /** `encrypt` from memory; undefined when that would take I/O. */
  peekEncrypt(name: string, plaintext: Buffer, context: Buffer | undefined): Buffer | undefined {
    return this.peek(name)?.encrypt(plaintext, context);
  }

  /** `decrypt` from memory; undefined when that would take I/O. @throws BadRequestError as decrypt */
  peekDecrypt(name: string, ciphertext: Buffer, context: Buffer | undefined): Buffer | undefined {
    const ring = this.peek(name);
    return ring && open(ring, ciphertext, context);
  }

  /**
   * Re-encrypts a ciphertext of any allowed version under the latest version, with the
   * same context; the plaintext never leaves this method. @throws as decrypt
   */
  async rewrap(name: string, ciphertext: Buffer, context: Buffer | undefined): Promise<Buffer> {
    const ring = await this.load(name);
    const plaintext = open(ring, ciphertext, context);
    try {
      return ring.encrypt(plaintext, context);
    } finally {
      plaintext.fill(0);
    }
  }

  /** HMAC under the latest version's HMAC subkey (a rotation changes it, as in Vault's transit). */
  async hmac(name: string, message: Buffer): Promise<Buffer> {
    const key = (await this.load(name)).latest.key;
    if (!key.hasHMAC) throw coded('KEY_NO_HMAC');
    return key.hmac(message);
  }

  /** Creates a key if it does not exist yet (the config's `keys:` list); true when it was created. */
  async ensure(name: string, createdBy: string): Promise<boolean> {
    try {
      await this.create(name, createdBy);
      return true;
    } catch (err) {
      if (err instanceof ExistsError) return false;
      throw err;
    }
  }

  private async put(name: string, value: Buffer): Promise<void> {
    try {
      await this.store.create(name, value);
    } catch (err) {
      throw translateStoreError(err, texts('create'));
    }
  }

  /**
   * The key's decoded ring from memory, synchronously: undefined when the keystore
   * cannot answer without I/O, or when the entry does not decode (`load` reports that).
   */
  private peek(name: string): KeyRing | undefined {
    const entry = this.peekEntry(name);
    if (!entry) return undefined;
    try {
      return this.decoded.decode(name, entry, decodeKeyRing);
    } catch {
      return undefined;
    }
  }

  /** The ring's description, made once per decoded ring (a ring is immutable). */
  private describeOf(name: string, ring: KeyRing): KeyDescription {
    let d = this.descriptions.get(ring);
    if (d === undefined || d.name !== name) {
      d = describeRing(name, ring);
      this.descriptions.set(ring, d);
    }
    return d;
  }

  private async load(name: string): Promise<KeyRing> {
    let entry: Entry;
    try {
      entry = await this.store.get(name);
    } catch (err) {
      throw translateStoreError(err, texts('read'));
    }
    try {
      return this.decoded.decode(name, entry, decodeKeyRing);
    } catch (err) {
      // A corrupt entry is a keystore problem, not the client's.
      throw translateStoreError(err, texts('read'));
    }
  }
}

/** A fresh 256-bit data key and its ciphertext under the latest version. */
function dataKey(ring: KeyRing, context: Buffer | undefined): DataKey {
  const plaintext = freshRandom(DEK_BYTES);
  return { plaintext, ciphertext: ring.encrypt(plaintext, context) };
}

/** Decrypts with the version the ciphertext names, in the API's words. */
function open(ring: KeyRing, ciphertext: Buffer, context: Buffer | undefined): Buffer {
  try {
    return ring.decrypt(ciphertext, context).plaintext;
  } catch (err) {
    if (err instanceof DecryptionError) throw new BadRequestError('decryption failed: ciphertext is not authentic');
    if (err instanceof RetiredVersionError) throw new BadRequestError(err.message);
    throw err;
  }
}

function describeRing(name: string, ring: KeyRing): KeyDescription {
  const versions = ring.versions().map((v) => {
    const d: KeyVersionDescription = { version: v.version };
    if (v.createdAt) d.createdAt = v.createdAt;
    if (v.createdBy) d.createdBy = v.createdBy;
    return d;
  });
  const first = versions[0]!;
  const out: KeyDescription = {
    name,
    algorithm: ring.latest.key.algorithm,
    latestVersion: ring.latestVersion,
    minDecryptionVersion: ring.minDecryptionVersion,
    versions,
  };
  if (first.createdAt) out.createdAt = first.createdAt;
  if (first.createdBy !== undefined) out.createdBy = first.createdBy;
  return out;
}

function texts(op: 'create' | 'read' | 'delete' | 'list' | 'rotate' | 'update'): StoreErrorTexts {
  return {
    exists: 'KEY_EXISTS',
    notFound: 'KEY_NOT_FOUND',
    failed: op === 'list' ? 'failed to list keys' : `failed to ${op} key`,
  };
}
