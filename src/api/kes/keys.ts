/** `/v1/key/...`: thin handlers over the KeyService, in KES's wire format. */
import { MAX_CRYPTO_BODY, route, type Reply, type Route } from '../../server/route.js';
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

/** {"<field>": base64}, put together the same way. */
function base64Reply(field: 'plaintext' | 'ciphertext', bytes: Buffer): Reply {
  return { text: `{"${field}":"${b64(bytes)}"}`, contentType: 'application/json' };
}

/** `min_decryption_version`: a positive integer (the service checks it against the key's versions). */
function minDecryptionVersion(req: Record<string, unknown>): number {
  const v = req['min_decryption_version'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new BadRequestError('invalid request body: min_decryption_version must be a positive integer');
  }
  return v;
}

/** Every key route takes one name after its verb: a key name, or a pattern for list. */
const KEY = { params: [KEY_NAME] } as const;

/** `fast` (describe, generate, encrypt, decrypt): the same answer from memory when the key is there; see Route.fast. */
export const keyRoutes: Route[] = [
  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/create/',
    handler: async ({ state, resource, caller }) => {
      await state.keys.create(resource, caller.principal);
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/import/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, caller, body }) => {
      const name = resource;
      const req = jsonObject(body);
      // Older clients sent {"bytes": …} and "algorithm"; accept both spellings.
      const key = base64Field(req, req['key'] !== undefined ? 'key' : 'bytes', true);
      const cipher = req['cipher'] !== undefined ? stringField(req, 'cipher') : req['algorithm'] !== undefined ? stringField(req, 'algorithm') : 'AES256';
      await state.keys.import(name, key, cipher, caller.principal);
    },
  }),

  route({
    ...KEY,
    method: 'GET',
    path: '/v1/key/describe/',
    handler: async ({ state, resource }) => describeReply(await state.keys.describe(resource)),
    fast: ({ state, resource }) => {
      const d = state.keys.peekDescribe(resource);
      return d && describeReply(d);
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/rotate/',
    handler: async ({ state, resource, caller }) => {
      return { json: describeJSON(await state.keys.rotate(resource, caller.principal)) };
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/config/',
    maxBody: MAX_CONFIG_BODY,
    handler: async ({ state, resource, body }) => {
      const min = minDecryptionVersion(jsonObject(body));
      return { json: describeJSON(await state.keys.setMinDecryptionVersion(resource, min)) };
    },
  }),

  route({
    ...KEY,
    method: 'DELETE',
    path: '/v1/key/delete/',
    handler: async ({ state, resource }) => {
      await state.keys.delete(resource);
    },
  }),

  route({
    method: 'GET',
    path: '/v1/key/list/',
    params: [LIST_PATTERN],
    handler: async ({ state, resource, query }) => {
      const prefix = listPrefix(resource);
      // KES fix: the cursor travels separately from the prefix, so paging works past the first page.
      const cursor = query.get('continue_at') ?? '';
      if (cursor !== '') validName(cursor, 'key name');
      const page = await state.keys.list(prefix, cursor);
      const json: { names: string[]; continue_at?: string } = { names: page.names };
      if (page.continueAt !== '') json.continue_at = page.continueAt;
      return { json };
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/generate/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, body }) => {
      const context = base64Field(jsonObject(body), 'context', false);
      return dataKeyReply(await state.keys.generate(resource, context));
    },
    fast: ({ state, resource, body }) => {
      const dek = state.keys.peekGenerate(resource, base64Field(jsonObject(body), 'context', false));
      return dek && dataKeyReply(dek);
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/encrypt/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, body }) => {
      const req = jsonObject(body);
      const ciphertext = await state.keys.encrypt(resource, base64Field(req, 'plaintext', true), base64Field(req, 'context', false));
      return base64Reply('ciphertext', ciphertext);
    },
    fast: ({ state, resource, body }) => {
      const req = jsonObject(body);
      const ciphertext = state.keys.peekEncrypt(resource, base64Field(req, 'plaintext', true), base64Field(req, 'context', false));
      return ciphertext && base64Reply('ciphertext', ciphertext);
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/decrypt/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, body }) => {
      const req = jsonObject(body);
      const plaintext = await state.keys.decrypt(resource, base64Field(req, 'ciphertext', true), base64Field(req, 'context', false));
      return base64Reply('plaintext', plaintext);
    },
    fast: ({ state, resource, body }) => {
      const req = jsonObject(body);
      const plaintext = state.keys.peekDecrypt(resource, base64Field(req, 'ciphertext', true), base64Field(req, 'context', false));
      return plaintext && base64Reply('plaintext', plaintext);
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/rewrap/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, body }) => {
      const req = jsonObject(body);
      const ciphertext = await state.keys.rewrap(resource, base64Field(req, 'ciphertext', true), base64Field(req, 'context', false));
      return base64Reply('ciphertext', ciphertext);
    },
  }),

  route({
    ...KEY,
    method: 'PUT',
    path: '/v1/key/hmac/',
    maxBody: MAX_CRYPTO_BODY,
    handler: async ({ state, resource, body }) => {
      const name = resource;
      const mac = await state.keys.hmac(name, base64Field(jsonObject(body), 'message', true));
      return { json: { hmac: b64(mac) } };
    },
  }),
];
