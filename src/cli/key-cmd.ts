/** `keygate key …`: client commands for the KES key API. */
import { Command } from 'commander';
import { action, client, enc, listAll, listPattern, out, withConnection, type ConnectionFlags } from './connection.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export function keyCommand(): Command {
  const key = new Command('key').description('manage master keys and use them (KES API)');

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

  withConnection(key.command('describe').alias('info').argument('<name>').description('show a key\'s metadata')).action(
    action(async (f, name) => {
      const d = (await client(f).call('GET', `/v1/key/describe/${enc(name ?? '')}`)) as Record<string, string>;
      if (f.json) return out(JSON.stringify(d));
      out(`Name      ${d['name']}\nAlgorithm ${d['algorithm']}\nCreated   ${d['created_at']}\nBy        ${d['created_by']}`);
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

  withConnection(
    key.command('dek').argument('<name>').option('--context <text>', 'associated data').description('generate a data encryption key'),
  ).action(
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
      .option('--context <text>', 'associated data'),
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

  return key;
}
