/** KV version 1 (passthrough) and the per-token cubbyhole, which shares its semantics. */
import type { Backend, BackendFactory, Ctx } from './core.js';
import { parseLossless } from './json.js';
import { badRequest, fail, multiError, none, ok, type Reply } from './reply.js';
import { parseDuration } from './util.js';

/** Immediate children of `prefix` among `keys`: leaves as-is, folders with a trailing `/`. */
export function listChildren(keys: Iterable<string>, prefix: string): string[] {
  const out = new Set<string>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    if (rest === '') continue;
    const slash = rest.indexOf('/');
    out.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
  }
  return [...out].sort();
}

/** The stored object is the whole request body, number literals included. */
function bodyObject(ctx: Ctx): Record<string, unknown> {
  if (ctx.rawBody !== undefined && /^\s*\{/.test(ctx.rawBody)) {
    try {
      return parseLossless(ctx.rawBody) as Record<string, unknown>;
    } catch {
      // Already validated by the HTTP layer; fall back to the decoded data.
    }
  }
  return ctx.data;
}

/**
 * KV v1 refuses a path holding `..` (checked against Vault 1.4: 500, worded per operation —
 * a read 'read failed: relative paths not supported', a write 'internal error', list and
 * delete 'relative paths not supported').
 */
const relative = (op: 'read' | 'write' | 'other'): Reply =>
  fail(500, multiError(op === 'read' ? 'read failed: relative paths not supported' : op === 'write' ? 'internal error' : 'relative paths not supported'));

function passthrough(store: (ctx: Ctx) => Map<string, Record<string, unknown>>, leases: boolean): Backend {
  return {
    paths: [
      {
        pattern: /^(.*\.\..*)$/,
        exists: () => false,
        ops: {
          read: () => relative('read'),
          list: () => relative('other'),
          update: () => relative('write'),
          delete: () => relative('other'),
        },
      },
      {
        pattern: /^(.*)$/,
        exists: (ctx, m) => store(ctx).has(m[1] ?? ''),
        ops: {
          read: (ctx, m): Reply => {
            const v = store(ctx).get(m[1] ?? '');
            if (!v) return none();
            if (!leases) return ok(v);
            let ttl = ctx.core.mountTtls(ctx.mount).dflt;
            const ttlRaw = v['ttl'] ?? v['lease'];
            if (ttlRaw !== undefined) {
              try {
                ttl = parseDuration(ttlRaw);
              } catch {
                // Vault ignores an unparsable ttl field and keeps the mount default.
              }
            }
            return ok(v, { leaseDuration: ttl });
          },
          list: (ctx, m) => ok({ keys: listChildren(store(ctx).keys(), m[1] ?? '') }),
          update: (ctx, m) => {
            const key = m[1] ?? '';
            if (key === '') return badRequest('missing path');
            const body = bodyObject(ctx);
            if (Object.keys(body).length === 0) return badRequest('missing data fields');
            store(ctx).set(key, body);
            return none();
          },
          delete: (ctx, m) => {
            store(ctx).delete(m[1] ?? '');
            return none();
          },
        },
      },
    ],
  };
}

export const kvV1Backend =
  (seed?: Map<string, Record<string, unknown>>): BackendFactory =>
  () => {
    const data = seed ?? new Map<string, Record<string, unknown>>();
    const b = passthrough(() => data, true);
    b.exportData = () => data;
    return b;
  };

export const cubbyholeBackend: BackendFactory = () => {
  // Keyed by token id: a cubbyhole dies with its token.
  const byToken = new Map<string, Map<string, Record<string, unknown>>>();
  return passthrough((ctx) => {
    const id = ctx.token?.id ?? '';
    let m = byToken.get(id);
    if (!m) byToken.set(id, (m = new Map()));
    return m;
  }, false);
};

/** A mount that exists but routes nothing (identity/ here). */
export const emptyBackend: BackendFactory = () => ({ paths: [] });
