/** `/v1/key/...`: thin handlers over the KeyService, in KES's wire format. */
import { DEFAULT_TIMEOUT_MS, MAX_CRYPTO_BODY, type Reply, type Route } from '../../server/route.js';
import { base64Field, jsonObject, listPrefix, stringField, validName } from '../request.js';
import { KEY_NAME, LIST_PATTERN } from '../params.js';
import { BadRequestError } from '../../errors.js';
import type { DataKey, KeyDescription } from '../../core/keys/service.js';

const b64 = (b: Buffer): string => b.toString('base64');

/** Body limit of the key config route: one small JSON object. */
const MAX_CONFIG_BODY = 4096;

/** KES's four fields, then the versions (KES clients ignore fields they do not know). */
function describeJSON(d: KeyDescription) {
  return {
    name: d.name,
    algorithm: d.algorithm,
    created_at: (d.createdAt ?? new Date(0)).toISOString(),
    created_by: d.createdBy ?? '',
    latest_version: d.latestVersion,
    min_decryption_version: d.minDecryptionVersion,
    versions: d.versions.map((v) => ({ version: v.version, created_at: (v.createdAt ?? new Date(0)).toISOString(), created_by: v.createdBy ?? '' })),
  };
}

/** A description's JSON reply, encoded once per description (the service hands out the same one while the key is unchanged). */
const describeReplies = new WeakMap<KeyDescription, Buffer>();
function describeReply(d: KeyDescription): Reply {
  let body = describeReplies.get(d);
  if (body === undefined) {
    body = Buffer.from(JSON.stringify(describeJSON(d)));
    describeReplies.set(d, body);
  }
  return { body, contentType: 'application/json' };
}

/** {"plaintext","ciphertext"}: base64 needs no JSON escaping, so the reply is put together directly. */
function dataKeyReply(dek: DataKey): Reply {
  return { text: `{"plaintext":"${b64(dek.plaintext)}","ciphertext":"${b64(dek.ciphertext)}"}`, contentType: 'application/json' };
}

/** `min_decryption_version`: a positive integer (the service checks it against the key's versions). */
function minDecryptionVersion(req: Record<string, unknown>): number {
  const v = req['min_decryption_version'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new BadRequestError('invalid request body: min_decryption_version must be a positive integer');
  }
  return v;
}

/**
 * `fast`: the same answer from memory, synchronously, when the key is there (the
 * hot path of generate, encrypt, decrypt and describe); see Route.fast.
 */
function keyRoute(verb: string, method: Route['method'], maxBody: number, handler: Route['handler'], fast?: Route['fast']): Route {
  const params = [verb === 'list' ? LIST_PATTERN : KEY_NAME];
  return { method, path: `/v1/key/${verb}/`, maxBody, timeoutMs: DEFAULT_TIMEOUT_MS, auth: 'policy', params, handler, ...(fast ? { fast } : {}) };
}

export const keyRoutes: Route[] = [
  keyRoute('create', 'PUT', 0, async ({ state, resource, caller }) => {
    await state.keys.create(resource, caller.principal);
  }),

  keyRoute('import', 'PUT', MAX_CRYPTO_BODY, async ({ state, resource, caller, body }) => {
    const name = resource;
    const req = jsonObject(body);
    // Older clients sent {"bytes": …} and "algorithm"; accept both spellings.
    const key = base64Field(req, req['key'] !== undefined ? 'key' : 'bytes', true);
    const cipher = req['cipher'] !== undefined ? stringField(req, 'cipher') : req['algorithm'] !== undefined ? stringField(req, 'algorithm') : 'AES256';
    await state.keys.import(name, key, cipher, caller.principal);
  }),

  keyRoute(
    'describe',
    'GET',
    0,
    async ({ state, resource }) => describeReply(await state.keys.describe(resource)),
    ({ state, resource }) => {
      const d = state.keys.peekDescribe(resource);
      return d && describeReply(d);
    },
  ),

  keyRoute('rotate', 'PUT', 0, async ({ state, resource, caller }) => {
    return { json: describeJSON(await state.keys.rotate(resource, caller.principal)) };
  }),

  keyRoute('config', 'PUT', MAX_CONFIG_BODY, async ({ state, resource, body }) => {
    const min = minDecryptionVersion(jsonObject(body));
    return { json: describeJSON(await state.keys.setMinDecryptionVersion(resource, min)) };
  }),

  keyRoute('delete', 'DELETE', 0, async ({ state, resource }) => {
    await state.keys.delete(resource);
  }),

  keyRoute('list', 'GET', 0, async ({ state, resource, query }) => {
    const prefix = listPrefix(resource);
    // KES fix: the cursor travels separately from the prefix, so paging works past the first page.
    const cursor = query.get('continue_at') ?? '';
    if (cursor !== '') validName(cursor, 'key name');
    const page = await state.keys.list(prefix, cursor);
    const json: { names: string[]; continue_at?: string } = { names: page.names };
    if (page.continueAt !== '') json.continue_at = page.continueAt;
    return { json };
  }),

  keyRoute(
    'generate',
    'PUT',
    MAX_CRYPTO_BODY,
    async ({ state, resource, body }) => {
      const context = base64Field(jsonObject(body), 'context', false);
      return dataKeyReply(await state.keys.generate(resource, context));
    },
    ({ state, resource, body }) => {
      const dek = state.keys.peekGenerate(resource, base64Field(jsonObject(body), 'context', false));
      return dek && dataKeyReply(dek);
    },
  ),

  keyRoute(
    'encrypt',
    'PUT',
    MAX_CRYPTO_BODY,
    async ({ state, resource, body }) => {
      const req = jsonObject(body);
      const ciphertext = await state.keys.encrypt(resource, base64Field(req, 'plaintext', true), base64Field(req, 'context', false));
      return { json: { ciphertext: b64(ciphertext) } };
    },
    ({ state, resource, body }) => {
      const req = jsonObject(body);
      const ciphertext = state.keys.peekEncrypt(resource, base64Field(req, 'plaintext', true), base64Field(req, 'context', false));
      return ciphertext && { json: { ciphertext: b64(ciphertext) } };
    },
  ),

  keyRoute(
    'decrypt',
    'PUT',
    MAX_CRYPTO_BODY,
    async ({ state, resource, body }) => {
      const req = jsonObject(body);
      const plaintext = await state.keys.decrypt(resource, base64Field(req, 'ciphertext', true), base64Field(req, 'context', false));
      return { json: { plaintext: b64(plaintext) } };
    },
    ({ state, resource, body }) => {
      const req = jsonObject(body);
      const plaintext = state.keys.peekDecrypt(resource, base64Field(req, 'ciphertext', true), base64Field(req, 'context', false));
      return plaintext && { json: { plaintext: b64(plaintext) } };
    },
  ),

  keyRoute('rewrap', 'PUT', MAX_CRYPTO_BODY, async ({ state, resource, body }) => {
    const req = jsonObject(body);
    const ciphertext = await state.keys.rewrap(resource, base64Field(req, 'ciphertext', true), base64Field(req, 'context', false));
    return { json: { ciphertext: b64(ciphertext) } };
  }),

  keyRoute('hmac', 'PUT', MAX_CRYPTO_BODY, async ({ state, resource, body }) => {
    const name = resource;
    const mac = await state.keys.hmac(name, base64Field(jsonObject(body), 'message', true));
    return { json: { hmac: b64(mac) } };
  }),
];
