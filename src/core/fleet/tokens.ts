/**
 * Bearer tokens of groups, nodes and RKS admins: 32 random bytes, base64url, with a
 * prefix that names their kind (`kgg_` group, `kgn_` node, `kga_` admin) so a leaked token is
 * recognisable in a scanner. Only the SHA-256 of a token is stored, at entry
 * `token.<hex>`, with its kind, group, node, expiry and the group generation it
 * was issued under; a presented token is looked up by hashing it.
 *
 * This service knows nothing of groups: whether a token's generation is still
 * the group's current one (rotation, deletion) is checked by the caller, which
 * is what lets a group invalidate all its tokens with one write.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BadRequestError, NotAuthorizedError, ERROR_CODES } from '../../errors.js';
import { EntryNotFoundError, VersionMismatchError, type KeyStore } from '../../../keystores/keystore.js';
import { translateStoreError, type StoreErrorTexts } from '../store-errors.js';
import { DecodeMemo } from '../decode-memo.js';

/** An `admin` token (RKS admin login) has no group; its `node` is the admin login. */
export type TokenKind = 'group' | 'node' | 'admin';

const PREFIX: Record<TokenKind, string> = { group: 'kgg_', node: 'kgn_', admin: 'kga_' };
/**
 * The exact shape of a token this service issues, or of a Vault service token adopted from an
 * RKS deployment (`s.` + 24 characters, or `hvs.` …: `keygate migrate --from-rks` keeps each
 * group's token working); anything else is refused without a keystore read.
 */
const TOKEN_SHAPE = /^(?:kg[gna]_[A-Za-z0-9_-]{43}|s\.[A-Za-z0-9]{24}|hvs\.[A-Za-z0-9_-]{24,160})$/;
const TOKEN_BYTES = 32;

export interface TokenRecord {
  /** Lowercase hex SHA-256 of the token. */
  readonly hash: string;
  readonly kind: TokenKind;
  readonly group: string;
  /** The node id of a node token, the login of an admin token; '' for group tokens. */
  readonly node: string;
  /** The group generation the token was issued under. */
  readonly generation: string;
  /** Milliseconds since the epoch. */
  readonly issuedAt: number;
  /** Milliseconds since the epoch; null for tokens that live as long as their group generation. */
  readonly expiresAt: number | null;
  /** Lifetime in seconds that issuing and each renewal grant (the period); 0 when the token does not expire. */
  readonly ttl: number;
  readonly renewable: boolean;
}

export interface IssueRequest {
  kind: TokenKind;
  group: string;
  node?: string;
  generation: string;
  /** Seconds; null for a token without expiry. */
  ttl: number | null;
  renewable: boolean;
}

/** The one answer to every unusable token: unknown, malformed, expired, revoked or of a rotated group. */
export class InvalidTokenError extends NotAuthorizedError {
  constructor() {
    super(ERROR_CODES.INVALID_TOKEN.message, 403, 'INVALID_TOKEN');
  }
}

export interface TokenServiceOptions {
  /** Clock in milliseconds; injected by tests to expire tokens without sleeping. */
  now?: () => number;
}

const texts: StoreErrorTexts = { exists: 'TOKEN_EXISTS', notFound: 'TOKEN_NOT_FOUND', failed: 'failed to access token' };

/** Lowercase hex SHA-256 of a token string. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Whether a string has the shape of a keygate token (of any kind). */
export function looksLikeToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

export class TokenService {
  readonly now: () => number;
  /** A node presents its token on every read: decode each stored record once per version. */
  private readonly decoded = new DecodeMemo<TokenRecord>(4096);

  constructor(
    private readonly store: KeyStore,
    options: TokenServiceOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Mints a token and stores its record; the token itself exists only in the return value. */
  async issue(req: IssueRequest): Promise<{ token: string; record: TokenRecord }> {
    const token = PREFIX[req.kind] + randomBytes(TOKEN_BYTES).toString('base64url');
    return { token, record: await this.saveRecord(token, req) };
  }

  /**
   * Stores a record for a token minted elsewhere (an RKS group token, by `keygate migrate
   * --from-rks`), so it is accepted like one this service issued. @throws BadRequestError for
   * a token of another shape, ExistsError if it is already stored
   */
  async adopt(token: string, req: IssueRequest): Promise<TokenRecord> {
    if (!looksLikeToken(token)) throw new BadRequestError('token: not a keygate or Vault service token');
    return this.saveRecord(token, req);
  }

  /** Stores the record of `token` (only its hash) as `req` describes, from now. */
  private async saveRecord(token: string, req: IssueRequest): Promise<TokenRecord> {
    const now = this.now();
    const record: TokenRecord = {
      hash: hashToken(token),
      kind: req.kind,
      group: req.group,
      node: req.node ?? '',
      generation: req.generation,
      issuedAt: now,
      expiresAt: req.ttl === null ? null : now + req.ttl * 1000,
      ttl: req.ttl ?? 0,
      renewable: req.renewable,
    };
    try {
      await this.store.create(entryName(record.hash), encode(record));
    } catch (err) {
      throw translateStoreError(err, texts);
    }
    return record;
  }

  /**
   * The record of a live token, or null when the token is malformed, unknown or
   * expired (an expired record is deleted on the way). Keystore failures throw.
   */
  async lookup(token: string): Promise<TokenRecord | null> {
    return (await this.live(token))?.record ?? null;
  }

  /** A stored record by hash, expired or not (inventories), or null. */
  async peek(hash: string): Promise<TokenRecord | null> {
    return (await this.read(hash))?.record ?? null;
  }

  /**
   * Restores the full TTL of a renewable, live token and returns its new record.
   * Throws InvalidTokenError for anything else, including a token revoked meanwhile.
   */
  async renew(token: string): Promise<TokenRecord> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const found = await this.live(token);
      if (!found || !found.record.renewable || found.record.expiresAt === null) throw new InvalidTokenError();
      const until = this.now() + found.record.ttl * 1000;
      // A concurrent renewal already got it this far: nothing to write.
      if (found.record.expiresAt >= until) return found.record;
      const renewed: TokenRecord = { ...found.record, expiresAt: until };
      try {
        await this.store.update(entryName(renewed.hash), encode(renewed), found.version);
        return renewed;
      } catch (err) {
        if (err instanceof EntryNotFoundError) throw new InvalidTokenError();
        // Two renewals of one token raced: both want the same outcome, so try again.
        if (!(err instanceof VersionMismatchError)) throw translateStoreError(err, texts);
      }
    }
    throw new InvalidTokenError();
  }

  /** Deletes a token's record; false when there was none. */
  async revoke(token: string): Promise<boolean> {
    if (!looksLikeToken(token)) return false;
    return this.revokeHash(hashToken(token));
  }

  /** Deletes a token's record by its hash; false when there was none. */
  async revokeHash(hash: string): Promise<boolean> {
    try {
      await this.store.delete(entryName(hash));
      return true;
    } catch (err) {
      if (err instanceof EntryNotFoundError) return false;
      throw translateStoreError(err, texts);
    }
  }

  /**
   * Live tokens by kind, walking every token record; `current` says whether a record's
   * group generation is still the group's (a rotated or deleted group's tokens are dead).
   * For the metrics census: it reads every record, so callers cache the answer.
   */
  async countLive(current: (record: TokenRecord) => boolean): Promise<Record<TokenKind, number>> {
    const counts: Record<TokenKind, number> = { group: 0, node: 0, admin: 0 };
    await this.walk((record) => {
      if (!this.expired(record) && current(record)) counts[record.kind]++;
    });
    return counts;
  }

  /** Revokes every token of a kind (all admin tokens, on demand); returns how many there were. */
  async revokeKind(kind: TokenKind): Promise<number> {
    const doomed: string[] = [];
    await this.walk((record) => {
      if (record.kind === kind) doomed.push(record.hash);
    });
    let revoked = 0;
    for (const hash of doomed) if (await this.revokeHash(hash)) revoked++;
    return revoked;
  }

  /** Calls `visit` with every stored token record, page by page; unreadable records are skipped. */
  private async walk(visit: (record: TokenRecord) => void): Promise<void> {
    let cursor = '';
    do {
      let page;
      try {
        page = await this.store.list('token.', cursor, 1000);
      } catch (err) {
        throw translateStoreError(err, texts);
      }
      for (const name of page.names) {
        const found = await this.read(name.slice('token.'.length)).catch(() => null);
        if (found) visit(found.record);
      }
      cursor = page.continueAt;
    } while (cursor !== '');
  }

  expired(record: TokenRecord): boolean {
    return record.expiresAt !== null && this.now() >= record.expiresAt;
  }

  private async live(token: string): Promise<{ record: TokenRecord; version: string } | null> {
    if (!looksLikeToken(token)) return null;
    const hash = hashToken(token);
    const found = await this.read(hash);
    if (!found) return null;
    // The entry name already matched the hash; comparing the stored hash in constant
    // time as well means a record is only ever accepted for the token it was made for.
    if (!timingSafeEqual(Buffer.from(found.record.hash, 'hex'), Buffer.from(hash, 'hex'))) return null;
    if (this.expired(found.record)) {
      await this.store.delete(entryName(hash)).catch(() => undefined);
      return null;
    }
    return found;
  }

  private async read(hash: string): Promise<{ record: TokenRecord; version: string } | null> {
    try {
      const entry = await this.store.get(entryName(hash));
      return { record: this.decoded.decode(hash, entry, (v) => Object.freeze(decode(v))), version: entry.version };
    } catch (err) {
      if (err instanceof EntryNotFoundError) return null;
      throw translateStoreError(err, texts);
    }
  }
}

function entryName(hash: string): string {
  return `token.${hash}`;
}

function encode(r: TokenRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      hash: r.hash,
      kind: r.kind,
      group: r.group,
      node: r.node,
      generation: r.generation,
      issued_at: r.issuedAt,
      expires_at: r.expiresAt,
      ttl: r.ttl,
      renewable: r.renewable,
    }),
  );
}

function decode(value: Buffer): TokenRecord {
  const o = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  if (
    o['v'] !== 1 ||
    typeof o['hash'] !== 'string' ||
    !/^[0-9a-f]{64}$/.test(o['hash']) ||
    (o['kind'] !== 'group' && o['kind'] !== 'node' && o['kind'] !== 'admin')
  ) {
    throw new Error('tokens: malformed token record');
  }
  return {
    hash: o['hash'],
    kind: o['kind'],
    group: String(o['group']),
    node: String(o['node'] ?? ''),
    generation: String(o['generation']),
    issuedAt: Number(o['issued_at']),
    expiresAt: o['expires_at'] === null ? null : Number(o['expires_at']),
    ttl: Number(o['ttl']),
    renewable: o['renewable'] === true,
  };
}
