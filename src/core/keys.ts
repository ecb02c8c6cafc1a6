/**
 * Master keys (the KES key API): create, import, describe, delete, list, and
 * the cryptographic operations done with them. Keys are stored in KES's own
 * encoding under their bare name, so a keystore written by KES can be served.
 */
import { randomBytes } from 'node:crypto';
import { BadRequestError, ConflictError, ExistsError, NotAcceptableError } from '../errors.js';
import { SecretKey, encodeKey, decodeKey, DecryptionError, type Algorithm } from '../crypto/index.js';
import type { KeyStore } from '../../keystores/keystore.js';
import { translateStoreError } from './store-errors.js';
import { isValidName } from './names.js';
import { listKind, pastDottedBlock, type EntryKind } from '../../keystores/listing.js';

/** Key entries are the entries named as keys are: every other kind's name contains '.'. */
const KEY_ENTRIES: EntryKind = { owns: isValidName, skipTo: pastDottedBlock('') };

/** Ciphers KES accepts on import, by every name it ever used for them. */
const IMPORT_CIPHERS = new Map<string, Algorithm>([
  ['AES256', 'AES256'],
  ['AES256-GCM_SHA256', 'AES256'],
  ['ChaCha20', 'ChaCha20'],
  ['XCHACHA20-POLY1305', 'ChaCha20'],
]);

export interface KeyDescription {
  name: string;
  algorithm: Algorithm;
  createdAt?: Date;
  createdBy?: string;
}

export interface KeyPage {
  names: string[];
  continueAt: string;
}

/** Length of a generated data key, as KES: always 256 bits. */
const DEK_BYTES = 32;

export class KeyService {
  constructor(private readonly store: KeyStore) {}

  async create(name: string, createdBy: string): Promise<void> {
    const key = SecretKey.generate('AES256');
    await this.put(name, encodeKey({ key, createdAt: new Date(), createdBy }));
  }

  async import(name: string, raw: Buffer, cipher: string, createdBy: string): Promise<void> {
    const algorithm = IMPORT_CIPHERS.get(cipher);
    if (!algorithm) throw new NotAcceptableError(`unsupported cipher '${cipher.slice(0, 40)}'`);
    if (raw.length !== 32) throw new NotAcceptableError('invalid key size: must be 256 bits');
    const key = new SecretKey(algorithm, raw, randomBytes(32));
    await this.put(name, encodeKey({ key, createdAt: new Date(), createdBy }));
  }

  async describe(name: string): Promise<KeyDescription> {
    const stored = await this.load(name);
    const out: KeyDescription = { name, algorithm: stored.key.algorithm };
    if (stored.createdAt) out.createdAt = stored.createdAt;
    if (stored.createdBy !== undefined) out.createdBy = stored.createdBy;
    return out;
  }

  async delete(name: string): Promise<void> {
    try {
      await this.store.delete(name);
    } catch (err) {
      throw translateStoreError(err, texts('delete'));
    }
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

  async generate(name: string, context: Buffer | undefined): Promise<{ plaintext: Buffer; ciphertext: Buffer }> {
    const { key } = await this.load(name);
    const plaintext = randomBytes(DEK_BYTES);
    return { plaintext, ciphertext: key.encrypt(plaintext, context) };
  }

  async encrypt(name: string, plaintext: Buffer, context: Buffer | undefined): Promise<Buffer> {
    const { key } = await this.load(name);
    return key.encrypt(plaintext, context);
  }

  async decrypt(name: string, ciphertext: Buffer, context: Buffer | undefined): Promise<Buffer> {
    const { key } = await this.load(name);
    try {
      return key.decrypt(ciphertext, context);
    } catch (err) {
      if (err instanceof DecryptionError) throw new BadRequestError('decryption failed: ciphertext is not authentic');
      throw err;
    }
  }

  async hmac(name: string, message: Buffer): Promise<Buffer> {
    const { key } = await this.load(name);
    if (!key.hasHMAC) throw new ConflictError('key does not support HMAC');
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

  private async load(name: string) {
    let value: Buffer;
    try {
      value = (await this.store.get(name)).value;
    } catch (err) {
      throw translateStoreError(err, texts('read'));
    }
    try {
      return decodeKey(value);
    } catch (err) {
      // A corrupt entry is a keystore problem, not the client's.
      throw translateStoreError(err, texts('read'));
    }
  }
}

function texts(op: 'create' | 'read' | 'delete' | 'list') {
  return {
    exists: 'key already exists',
    notFound: 'key does not exist',
    failed: op === 'list' ? 'failed to list keys' : `failed to ${op} key`,
  };
}
