/** KV version 2 (vault-plugin-secrets-kv): versions, CAS, soft delete, metadata. */
import type { BackendFactory, Ctx, PathDef } from './core.js';
import { toPlain } from './json.js';
import { listChildren } from './kv.js';
import { badRequest, none, ok, raw, type Reply } from './reply.js';
import { fieldBool, FieldError, fieldInt, goDuration, parseDuration, rfc3339 } from './util.js';

interface VersionMeta {
  created: number;
  /** ms; 0 = not deleted (may lie in the future with delete_version_after). */
  deletion: number;
  destroyed: boolean;
  data: Record<string, unknown> | undefined;
}

interface KeyMeta {
  versions: Map<number, VersionMeta>;
  current: number;
  oldest: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: number;
  customMetadata: Record<string, string> | null;
  created: number;
  updated: number;
}

interface Config {
  casRequired: boolean;
  maxVersions: number;
  deleteVersionAfter: number;
}

const DEFAULT_MAX_VERSIONS = 10;
const DATA_FIELDS = new Set(['data', 'options', 'version']);

const ts = (ms: number): string => (ms ? rfc3339(ms) : '');

function versionMetadata(meta: KeyMeta, n: number, vm: VersionMeta): Record<string, unknown> {
  return { version: n, created_time: ts(vm.created), deletion_time: ts(vm.deletion), destroyed: vm.destroyed, custom_metadata: meta.customMetadata };
}

/**
 * A deletion time equal to "now" counts as deleted: Vault compares nanosecond
 * timestamps, so a delete followed by a read never sees them equal, whereas a
 * frozen millisecond test clock would.
 */
const isDeleted = (vm: VersionMeta, now: number): boolean => vm.deletion !== 0 && vm.deletion <= now;

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function versionsField(v: unknown): number[] {
  const items = Array.isArray(v) ? v : v === undefined || v === null || v === '' ? [] : String(v).split(',');
  return items.map((x) => {
    const n = Number(typeof x === 'string' ? x.trim() : x);
    if (!Number.isInteger(n)) throw new FieldError(`Field validation failed: error converting input ${JSON.stringify(x)} for field "versions"`);
    return n;
  });
}

function goType(v: unknown): string {
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'string' ? 'string' : 'interface {}';
}

export const kvV2Backend =
  (seed?: Map<string, Record<string, unknown>>): BackendFactory =>
  (core) => {
    const keys = new Map<string, KeyMeta>();
    const config: Config = { casRequired: false, maxVersions: 0, deleteVersionAfter: 0 };

    const newMeta = (now: number): KeyMeta => ({
      versions: new Map(),
      current: 0,
      oldest: 0,
      maxVersions: 0,
      casRequired: false,
      deleteVersionAfter: 0,
      customMetadata: null,
      created: now,
      updated: now,
    });

    /** Appends a version, pruning past max(meta, config) or 10 (KeyMetadata.AddVersion). */
    const addVersion = (meta: KeyMeta, data: Record<string, unknown>, now: number): VersionMeta => {
      let dva = 0;
      if (meta.deleteVersionAfter !== 0 || config.deleteVersionAfter !== 0) {
        dva = meta.deleteVersionAfter || config.deleteVersionAfter;
        if (config.deleteVersionAfter !== 0 && config.deleteVersionAfter < dva) dva = config.deleteVersionAfter;
      }
      const vm: VersionMeta = { created: now, deletion: dva > 0 ? now + dva * 1000 : 0, destroyed: false, data };
      meta.current++;
      meta.versions.set(meta.current, vm);
      meta.updated = now;
      const max = Math.max(meta.maxVersions, config.maxVersions) || DEFAULT_MAX_VERSIONS;
      if (meta.current - meta.oldest >= max) {
        const toDelete = meta.current - max;
        for (let i = meta.oldest; i <= toDelete; i++) meta.versions.delete(i);
        meta.oldest = toDelete + 1;
      }
      return vm;
    };

    for (const [k, v] of seed ?? []) {
      const meta = newMeta(core.now());
      addVersion(meta, toPlain(v) as Record<string, unknown>, core.now());
      keys.set(k, meta);
    }

    const checkCas = (ctx: Ctx, meta: KeyMeta): string | undefined => {
      const options = ctx.data['options'];
      const has = options !== null && typeof options === 'object' && 'cas' in options;
      if (has) {
        const casRaw = (options as Record<string, unknown>)['cas'];
        // mapstructure.WeakDecode into an int: numbers truncate, bools are 0/1, strings must be integers.
        const cas =
          typeof casRaw === 'number' || typeof casRaw === 'boolean'
            ? Math.trunc(Number(casRaw))
            : typeof casRaw === 'string' && /^\s*-?\d+\s*$/.test(casRaw)
              ? Number(casRaw)
              : NaN;
        if (!Number.isInteger(cas)) return 'error parsing check-and-set parameter';
        if (cas !== meta.current) return 'check-and-set parameter did not match the current version';
      } else if (config.casRequired || meta.casRequired) {
        return 'check-and-set parameter required for this call';
      }
      return undefined;
    };

    const writeResponse = (meta: KeyMeta, vm: VersionMeta, warnings: string[]): Reply =>
      ok(
        { version: meta.current, created_time: ts(vm.created), deletion_time: ts(vm.deletion), destroyed: vm.destroyed, custom_metadata: meta.customMetadata },
        { warnings },
      );

    const dataWrite = (ctx: Ctx, key: string): Reply => {
      if (!('data' in ctx.data)) return badRequest('no data provided');
      const data = ctx.data['data'];
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        return badRequest(`Field validation failed: error converting input ${JSON.stringify(data)} for field "data": '' expected a map, got '${goType(data)}'`);
      }
      const meta = keys.get(key) ?? newMeta(ctx.now);
      const casErr = checkCas(ctx, meta);
      if (casErr) return badRequest(casErr);
      keys.set(key, meta);
      const vm = addVersion(meta, data as Record<string, unknown>, ctx.now);
      const unknown = Object.keys(ctx.data)
        .filter((k) => !DATA_FIELDS.has(k))
        .sort();
      return writeResponse(meta, vm, unknown.length ? [`Endpoint ignored these unrecognized parameters: [${unknown.join(' ')}]`] : []);
    };

    const dataRead = (ctx: Ctx, key: string): Reply => {
      const meta = keys.get(key);
      if (!meta) return none();
      let ver: number;
      try {
        ver = fieldInt(ctx.data['version'], 0);
      } catch {
        return badRequest(`Field validation failed: error converting input ${JSON.stringify(ctx.data['version'])} for field "version"`);
      }
      const n = ver > 0 ? ver : meta.current;
      const vm = meta.versions.get(n);
      if (!vm) return none();
      const body = { data: null as unknown, metadata: versionMetadata(meta, n, vm) };
      if (isDeleted(vm, ctx.now) || vm.destroyed) return raw(404, body);
      body.data = vm.data;
      return ok(body);
    };

    const dataDelete = (ctx: Ctx, key: string): Reply => {
      const meta = keys.get(key);
      const lv = meta?.versions.get(meta.current);
      if (!lv || lv.destroyed || isDeleted(lv, ctx.now)) return none();
      lv.deletion = ctx.now;
      return none();
    };

    const dataPatch = (ctx: Ctx, key: string): Reply => {
      if (!('data' in ctx.data)) return badRequest('no data provided');
      const meta = keys.get(key);
      if (!meta) return { kind: 'body', status: 404, body: '' };
      const casErr = checkCas(ctx, meta);
      if (casErr) return badRequest(casErr);
      const cur = meta.versions.get(meta.current);
      if (!cur) return { kind: 'body', status: 404, body: '' };
      if (isDeleted(cur, ctx.now) || cur.destroyed) return raw(404, versionMetadata(meta, meta.current, cur));
      const patched = mergePatch(cur.data ?? {}, ctx.data['data']) as Record<string, unknown>;
      const vm = addVersion(meta, patched, ctx.now);
      return writeResponse(meta, vm, []);
    };

    const metadataRead = (key: string): Reply => {
      const meta = keys.get(key);
      if (!meta) return none();
      const versions: Record<string, unknown> = {};
      for (const [n, vm] of meta.versions) versions[String(n)] = { created_time: ts(vm.created), deletion_time: ts(vm.deletion), destroyed: vm.destroyed };
      return ok({
        cas_required: meta.casRequired,
        created_time: ts(meta.created),
        current_version: meta.current,
        custom_metadata: meta.customMetadata,
        delete_version_after: goDuration(meta.deleteVersionAfter),
        max_versions: meta.maxVersions,
        oldest_version: meta.oldest,
        updated_time: ts(meta.updated),
        versions,
      });
    };

    const customMetadata = (v: unknown): Record<string, string> | string => {
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        return `Field validation failed: error converting input ${JSON.stringify(v)} for field "custom_metadata"`;
      const entries = Object.entries(v);
      const errs: string[] = [];
      if (entries.length > 64) errs.push(`payload must contain at most 64 keys, provided keys: ${entries.length}`);
      for (const [k, x] of entries) {
        if (Buffer.byteLength(k) > 128) errs.push(`length of key "${k}" is ${Buffer.byteLength(k)} but max is 128`);
        if (Buffer.byteLength(String(x)) > 512) errs.push(`length of value for key "${k}" is ${Buffer.byteLength(String(x))} but max is 512`);
      }
      if (errs.length)
        return `custom_metadata validation failed: ${errs.length} error${errs.length > 1 ? 's' : ''} occurred:\n${errs.map((e) => `\t* ${e}`).join('\n')}\n\n`;
      return Object.fromEntries(entries.map(([k, x]) => [k, String(x)]));
    };

    const metadataWrite = (ctx: Ctx, key: string, patch: boolean): Reply => {
      const d = ctx.data;
      const has = (f: string): boolean => d[f] !== undefined;
      let meta = keys.get(key);
      if (patch && !meta) return { kind: 'body', status: 404, body: '' };
      if (!has('max_versions') && !has('cas_required') && !has('delete_version_after') && !has('custom_metadata')) return none();
      const warnings: string[] = [];
      let max: number | undefined, cas: boolean | undefined, dva: number | undefined, cm: Record<string, string> | undefined;
      try {
        if (has('max_versions')) max = fieldInt(d['max_versions'], 0);
        if (has('cas_required')) cas = fieldBool(d['cas_required'], false);
        if (has('delete_version_after')) dva = parseDuration(d['delete_version_after']);
      } catch (e) {
        return badRequest((e as Error).message);
      }
      if (has('custom_metadata')) {
        const c = customMetadata(d['custom_metadata']);
        if (typeof c === 'string') return badRequest(c);
        cm = patch ? (mergePatch(meta?.customMetadata ?? {}, d['custom_metadata']) as Record<string, string>) : c;
      }
      if (!meta) {
        meta = newMeta(ctx.now);
        keys.set(key, meta);
      }
      if (max !== undefined) meta.maxVersions = max;
      if (cas !== undefined) {
        meta.casRequired = cas;
        if (!cas && config.casRequired) warnings.push('"cas_required" set to false, but is mandated by backend config. This value will be ignored.');
      }
      if (dva !== undefined) meta.deleteVersionAfter = dva < 0 ? 0 : dva;
      if (cm !== undefined) meta.customMetadata = cm;
      return warnings.length ? ok(null, { warnings }) : none();
    };

    const versionOp = (ctx: Ctx, key: string, emptyMsg: string, apply: (vm: VersionMeta) => void): Reply => {
      let versions: number[];
      try {
        versions = versionsField(ctx.data['versions']);
      } catch (e) {
        return badRequest((e as Error).message);
      }
      if (versions.length === 0) return badRequest(emptyMsg);
      const meta = keys.get(key);
      if (!meta) return none();
      for (const n of versions) {
        const vm = meta.versions.get(n);
        if (vm) apply(vm);
      }
      return none();
    };

    const subkeysOf = (v: unknown, depth: number, level: number): unknown => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
      if (depth > 0 && level >= depth) return null;
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subkeysOf(x, depth, level + 1)]));
    };

    const invalid = (ctx: Ctx): Reply => {
      if (['metadata', 'data', 'delete', 'undelete', 'destroy'].includes(ctx.path)) {
        return raw(404, null, ['Non-listing operations on the root of a K/V v2 mount are not supported.']);
      }
      const sub = { create: 'put', update: 'put', patch: 'patch', read: 'get', list: 'list', delete: 'delete' }[ctx.op];
      return raw(404, null, [
        `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${sub}' for this operation.`,
      ]);
    };

    const key = (m: RegExpExecArray): string => m[1] ?? '';
    const paths: PathDef[] = [
      {
        pattern: /^config$/,
        ops: {
          read: () => ok({ cas_required: config.casRequired, delete_version_after: goDuration(config.deleteVersionAfter), max_versions: config.maxVersions }),
          update: (ctx) => {
            try {
              if (ctx.data['max_versions'] !== undefined) config.maxVersions = fieldInt(ctx.data['max_versions'], 0);
              if (ctx.data['cas_required'] !== undefined) config.casRequired = fieldBool(ctx.data['cas_required'], false);
              if (ctx.data['delete_version_after'] !== undefined) config.deleteVersionAfter = Math.max(0, parseDuration(ctx.data['delete_version_after']));
            } catch (e) {
              return badRequest((e as Error).message);
            }
            return none();
          },
        },
      },
      {
        pattern: /^data\/(.*[^/])$/,
        exists: (_ctx, m) => keys.has(key(m)),
        ops: {
          read: (ctx, m) => dataRead(ctx, key(m)),
          update: (ctx, m) => dataWrite(ctx, key(m)),
          delete: (ctx, m) => dataDelete(ctx, key(m)),
          patch: (ctx, m) => dataPatch(ctx, key(m)),
        },
      },
      {
        pattern: /^metadata\/(.*)$/,
        exists: (_ctx, m) => keys.has(key(m)),
        ops: {
          list: (ctx, m) => {
            // Newer plugin versions can hide keys whose current version is deleted or destroyed.
            const hide = ctx.data['exclude_deleted'] !== undefined && fieldBool(ctx.data['exclude_deleted'], false);
            const names = [...keys.entries()]
              .filter(([, meta]) => {
                if (!hide) return true;
                const cur = meta.versions.get(meta.current);
                return !!cur && !cur.destroyed && !isDeleted(cur, ctx.now);
              })
              .map(([k]) => k);
            return ok({ keys: listChildren(names, key(m)) });
          },
          read: (_ctx, m) => metadataRead(key(m)),
          update: (ctx, m) => metadataWrite(ctx, key(m), false),
          patch: (ctx, m) => metadataWrite(ctx, key(m), true),
          delete: (_ctx, m) => {
            keys.delete(key(m));
            return none();
          },
        },
      },
      {
        pattern: /^destroy\/(.*)$/,
        ops: {
          update: (ctx, m) =>
            versionOp(ctx, key(m), 'no version number provided', (vm) => {
              vm.destroyed = true;
              vm.data = undefined;
            }),
        },
      },
      {
        pattern: /^subkeys\/(.*[^/])$/,
        ops: {
          read: (ctx, m) => {
            const meta = keys.get(key(m));
            if (!meta) return none();
            let ver: number, depth: number;
            try {
              ver = fieldInt(ctx.data['version'], 0);
              depth = fieldInt(ctx.data['depth'], 0);
            } catch (e) {
              return badRequest((e as Error).message);
            }
            const n = ver > 0 ? ver : meta.current;
            const vm = meta.versions.get(n);
            if (!vm) return none();
            const md = versionMetadata(meta, n, vm);
            if (isDeleted(vm, ctx.now) || vm.destroyed) return raw(404, { subkeys: null, metadata: md });
            return ok({ subkeys: subkeysOf(vm.data, depth, 0), metadata: md });
          },
        },
      },
      {
        pattern: /^delete\/(.*)$/,
        ops: {
          update: (ctx, m) =>
            versionOp(ctx, key(m), 'No version number provided', (vm) => {
              if (!vm.destroyed && !isDeleted(vm, ctx.now)) vm.deletion = ctx.now;
            }),
        },
      },
      {
        pattern: /^undelete\/(.*)$/,
        ops: {
          update: (ctx, m) =>
            versionOp(ctx, key(m), 'No version number provided', (vm) => {
              if (!vm.destroyed) vm.deletion = 0;
            }),
        },
      },
      { pattern: /^.*$/, ops: { read: invalid, list: invalid, update: invalid, delete: invalid, patch: invalid } },
    ];
    return { paths };
  };
