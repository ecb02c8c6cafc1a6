/** `keygate key …`: client commands for the KES key API. */
import { Command } from 'commander';
import { action, client, enc, listAll, listPattern, out, withConnection, type ConnectionFlags } from './connection.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** GET /v1/key/describe/<name> (the version fields are absent on a KES server). */
interface KeyDescription {
  name: string;
  algorithm: string;
  created_at: string;
  created_by: string;
  latest_version?: number;
  min_decryption_version?: number;
  versions?: Array<{ version: number; created_at: string; created_by: string }>;
}

function describeText(d: KeyDescription): string {
  const lines = [`Name      ${d.name}`, `Algorithm ${d.algorithm}`, `Created   ${d.created_at}`, `By        ${d.created_by}`];
  if (d.latest_version !== undefined) {
    lines.push(`Versions  ${d.latest_version} (decrypts from version ${d.min_decryption_version ?? 1})`);
    for (const v of d.versions ?? []) lines.push(`  v${v.version}  ${v.created_at}  ${v.created_by}`);
  }
  return lines.join('\n');
}

export function keyCommand(): Command {
  const key = new Command('key').description('manage master keys and use them (KES API)');
  addLifecycle(key);
  addVersions(key);
  addCryptography(key);
  return key;
}

/** create, import, describe, ls, rm. */
function addLifecycle(key: Command): void {
  withConnection(key.command('create').argument('<name>').description('create a new random master key')).action(
    action(async (f, name) => {
      await client(f).call('PUT', `/v1/key/create/${enc(name ?? '')}`);
      if (f.json) out('{}');
    }),
  );

  withConnection(
    key
      .command('import')
      .argument('<name>')
      .argument('<key>', '32 bytes, base64')
      .option('--cipher <cipher>', 'AES256 or ChaCha20', 'AES256')
      .description('import an existing 256-bit key'),
  ).action(
    action(async (f, name, material) => {
      const cipher = (f as ConnectionFlags & { cipher: string }).cipher;
      await client(f).call('PUT', `/v1/key/import/${enc(name ?? '')}`, { key: material, cipher });
      if (f.json) out('{}');
    }),
  );

  withConnection(key.command('describe').alias('info').argument('<name>').description("show a key's metadata and versions")).action(
    action(async (f, name) => {
      const d = (await client(f).call('GET', `/v1/key/describe/${enc(name ?? '')}`)) as KeyDescription;
      if (f.json) return out(JSON.stringify(d));
      out(describeText(d));
    }),
  );

  withConnection(key.command('ls').argument('[prefix]', 'name prefix', '').description('list keys')).action(
    action(async (f, prefix) => {
      const names = await listAll(client(f), `/v1/key/list/${enc(listPattern(prefix))}`);
      if (f.json) return out(JSON.stringify({ names }));
      for (const n of names) out(n);
    }),
  );

  withConnection(key.command('rm').argument('<name>').description('delete a key')).action(
    action(async (f, name) => {
      await client(f).call('DELETE', `/v1/key/delete/${enc(name ?? '')}`);
      if (f.json) out('{}');
    }),
  );
}

/** rotate, rewrap, config: key versions. */
function addVersions(key: Command): void {
  withConnection(
    key.command('rotate').argument('<name>').description('add a new version of a key: encryption uses it from now on, older versions keep decrypting'),
  ).action(
    action(async (f, name) => {
      const d = (await client(f).call('PUT', `/v1/key/rotate/${enc(name ?? '')}`)) as KeyDescription;
      out(f.json ? JSON.stringify(d) : `${d.name}: version ${d.latest_version}`);
    }),
  );

  withConnection(
    key
      .command('rewrap')
      .argument('<name>')
      .argument('<ciphertext>', 'base64')
      .option('--context <text>', 'associated data (the one it was encrypted with)')
      .description("re-encrypt a ciphertext under the key's latest version (the plaintext is never shown)"),
  ).action(
    action(async (f, name, ciphertext) => {
      const o = f as ConnectionFlags & { context?: string };
      const body: Record<string, string> = { ciphertext: ciphertext ?? '' };
      if (o.context !== undefined) body['context'] = b64(o.context);
      const r = (await client(f).call('PUT', `/v1/key/rewrap/${enc(name ?? '')}`, body)) as Record<string, string>;
      out(f.json ? JSON.stringify(r) : (r['ciphertext'] ?? ''));
    }),
  );

  withConnection(
    key
      .command('config')
      .argument('<name>')
      .requiredOption('--min-decryption-version <n>', 'refuse ciphertexts of older versions (1 allows all)')
      .description("set a key's min_decryption_version"),
  ).action(
    action(async (f, name) => {
      const min = Number((f as ConnectionFlags & { minDecryptionVersion: string }).minDecryptionVersion);
      const d = (await client(f).call('PUT', `/v1/key/config/${enc(name ?? '')}`, { min_decryption_version: min })) as KeyDescription;
      out(f.json ? JSON.stringify(d) : describeText(d));
    }),
  );
}

/** dek, encrypt, decrypt, hmac. */
function addCryptography(key: Command): void {
  withConnection(key.command('dek').argument('<name>').option('--context <text>', 'associated data').description('generate a data encryption key')).action(
    action(async (f, name) => {
      const ctx = (f as ConnectionFlags & { context?: string }).context;
      const body = ctx === undefined ? {} : { context: b64(ctx) };
      const r = (await client(f).call('PUT', `/v1/key/generate/${enc(name ?? '')}`, body)) as Record<string, string>;
      if (f.json) return out(JSON.stringify(r));
      out(`plaintext:  ${r['plaintext']}\nciphertext: ${r['ciphertext']}`);
    }),
  );

  withConnection(
    key
      .command('encrypt')
      .argument('<name>')
      .argument('<plaintext>', 'text to encrypt (UTF-8), or base64 with --base64')
      .option('--base64', 'the plaintext argument is base64')
      .option('--context <text>', 'associated data')
      .description('encrypt a plaintext; prints the ciphertext as base64'),
  ).action(
    action(async (f, name, plaintext) => {
      const o = f as ConnectionFlags & { context?: string; base64?: boolean };
      const body: Record<string, string> = { plaintext: o.base64 ? (plaintext ?? '') : b64(plaintext ?? '') };
      if (o.context !== undefined) body['context'] = b64(o.context);
      const r = (await client(f).call('PUT', `/v1/key/encrypt/${enc(name ?? '')}`, body)) as Record<string, string>;
      out(f.json ? JSON.stringify(r) : (r['ciphertext'] ?? ''));
    }),
  );

  withConnection(
    key
      .command('decrypt')
      .argument('<name>')
      .argument('<ciphertext>', 'base64')
      .option('--context <text>', 'associated data')
      .description('decrypt a ciphertext; prints the plaintext as base64'),
  ).action(
    action(async (f, name, ciphertext) => {
      const o = f as ConnectionFlags & { context?: string };
      const body: Record<string, string> = { ciphertext: ciphertext ?? '' };
      if (o.context !== undefined) body['context'] = b64(o.context);
      const r = (await client(f).call('PUT', `/v1/key/decrypt/${enc(name ?? '')}`, body)) as Record<string, string>;
      out(f.json ? JSON.stringify(r) : (r['plaintext'] ?? ''));
    }),
  );

  withConnection(key.command('hmac').argument('<name>').argument('<message>', 'text (UTF-8)').description('HMAC-SHA256 of a message')).action(
    action(async (f, name, message) => {
      const r = (await client(f).call('PUT', `/v1/key/hmac/${enc(name ?? '')}`, { message: b64(message ?? '') })) as Record<string, string>;
      out(f.json ? JSON.stringify(r) : (r['hmac'] ?? ''));
    }),
  );
}
