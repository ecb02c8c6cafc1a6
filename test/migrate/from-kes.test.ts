/**
 * Moving from KES needs no migration: keygate reads KES's keystores in place. Keys are written
 * here exactly as KES writes them — a folder of files named after the keys (KES's `fs`
 * keystore), and Vault KV v1 and v2 secrets with one field named after the key (KES's `vault`
 * keystore), in KES's stored encodings (the JSON form of KES v0.19.2–2023 and the
 * base64(protobuf) form of current KES) — then keygate is started on them and decrypts the
 * ciphertexts KES made with those keys (test/vectors/kes). Serving the keys changes no
 * stored byte, so a KES server could still be switched back to.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultAdmin } from '../../keystores/vault/testing.js';
import { startVaultTestServer, type VaultTestServer } from '../vault-server/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { kesCiphertexts, openingVectors, type DecryptVector, type EncodingVector } from '../helpers/kes-vectors.js';

const decrypts = openingVectors;
const protobufKey = kesCiphertexts.key_encodings.vectors.find((v) => v.expect === 'ok' && v.format.startsWith('base64(protobuf')) as EncodingVector;

/** KES v0.19.2–2023's stored form of a master key. */
function kesJSON(v: DecryptVector): string {
  const algorithm = v.algorithm === 'AES256' ? 'AES256-GCM_SHA256' : 'XCHACHA20-POLY1305';
  return JSON.stringify({ bytes: v.master_key, algorithm, created_at: '2023-06-01T10:00:00Z', created_by: 'a'.repeat(64) });
}

/** Every key KES would hold: one per decrypt vector, and one in current KES's protobuf encoding. */
const keys: Array<[string, string]> = [...decrypts.map((v, i): [string, string] => [`kes-${i}`, kesJSON(v)]), ['kes-current', protobufKey.stored]];

let dir: string;
let vault: VaultTestServer;
let admin: VaultAdmin;

beforeAll(async () => {
  expect(decrypts.length).toBeGreaterThan(5);
  dir = await mkdtemp(join(tmpdir(), 'keygate-from-kes-'));
  vault = await startVaultTestServer();
  admin = new VaultAdmin(vault.url, vault.rootToken);
});
afterAll(async () => {
  await vault?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function decryptsEverything(s: TestServer): Promise<void> {
  for (const [i, v] of decrypts.entries()) {
    const body: Record<string, string> = { ciphertext: v.ciphertext };
    if (v.context !== null) body['context'] = v.context;
    const d = await s.call(s.admin, `/v1/key/decrypt/kes-${i}`, { method: 'PUT', body });
    expect(d.status, v.id).toBe(200);
    expect(d.json.plaintext, v.id).toBe(v.plaintext);
  }
  // The current-format key works both ways.
  const g = await s.call(s.admin, '/v1/key/generate/kes-current', { method: 'PUT', body: {} });
  expect(g.status).toBe(200);
  const d = await s.call(s.admin, '/v1/key/decrypt/kes-current', { method: 'PUT', body: { ciphertext: g.json.ciphertext } });
  expect(d.json.plaintext).toBe(g.json.plaintext);
  const list = await s.call(s.admin, '/v1/key/list/*');
  expect(list.json.names.sort()).toEqual(keys.map(([n]) => n).sort());
}

describe('keygate on a KES keystore, in place', () => {
  it("KES's fs keystore: a folder of files named after the keys", async () => {
    const path = join(dir, 'kes-fs');
    await mkdir(path, { mode: 0o700 });
    for (const [name, stored] of keys) {
      await writeFile(join(path, name), stored, { mode: 0o600, flag: 'wx' });
      await chmod(join(path, name), 0o600);
    }
    const s = await startTestServer({ config: { keystore: { fs: { path } } } });
    try {
      await decryptsEverything(s);
    } finally {
      await s.close();
    }
    for (const [name, stored] of keys) expect(await readFile(join(path, name), 'utf8'), name).toBe(stored);
  });

  for (const version of ['v1', 'v2'] as const) {
    it(`KES's Vault keystore: KV ${version}, a prefix, one field named after the key`, async () => {
      const engine = `kes-${version}`;
      await admin.mountKV(engine, version);
      for (const [name, stored] of keys) {
        if (version === 'v1') await admin.ok('PUT', `${engine}/minio/${name}`, { [name]: stored });
        else await admin.ok('PUT', `${engine}/data/minio/${name}`, { data: { [name]: stored }, options: { cas: 0 } });
      }
      const s = await startTestServer({ config: { keystore: { vault: { endpoint: vault.url, engine, version, prefix: 'minio', token: vault.rootToken } } } });
      try {
        await decryptsEverything(s);
      } finally {
        await s.close();
      }
      for (const [name, stored] of keys) {
        const read = await admin.ok('GET', version === 'v1' ? `${engine}/minio/${name}` : `${engine}/data/minio/${name}`);
        const data = version === 'v1' ? read.data : read.data.data;
        expect(data, name).toEqual({ [name]: stored });
      }
    });
  }
});
