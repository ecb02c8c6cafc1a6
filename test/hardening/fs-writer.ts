/**
 * The child process of the fs crash test: creates, replaces and deletes
 * self-checking entries from four concurrent loops as fast as it can until it
 * is killed, and prints one line per acknowledged write, after the keystore
 * call returned: `ack <create|update|delete> <name> <seq>` (and `intent delete`
 * before a delete).
 *
 * A value is `<name>|<seq>|<random bytes>` followed by the SHA-256 of all of
 * that, so a torn or mixed-up value cannot pass for a written one.
 *
 * Usage: tsx test/hardening/fs-writer.ts <root> <run>
 */
import { createHash, randomBytes } from 'node:crypto';
import { FSKeyStore } from '../../keystores/fs.js';
import { EntryNotFoundError, VersionMismatchError } from '../../keystores/keystore.js';

const [root, run] = process.argv.slice(2) as [string, string];
const store = await FSKeyStore.open(root);

export function makeValue(name: string, seq: number): Buffer {
  const body = Buffer.concat([Buffer.from(`${name}|${seq}|`), randomBytes(1024 + Math.floor(Math.random() * 48 * 1024))]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

const ack = (op: string, name: string, seq: number): void => void process.stdout.write(`ack ${op} ${name} ${seq}\n`);

async function replace(name: string): Promise<void> {
  for (;;) {
    let seq = 0;
    try {
      const current = await store.get(name);
      seq = Number(current.value.toString('latin1').split('|')[1]) + 1;
      await store.update(name, makeValue(name, seq), current.version);
    } catch (err) {
      if (err instanceof VersionMismatchError) continue;
      if (!(err instanceof EntryNotFoundError)) throw err;
      await store.create(name, makeValue(name, seq));
    }
    return ack('update', name, seq);
  }
}

async function loop(worker: number): Promise<void> {
  const created: string[] = [];
  for (let i = 0; ; i++) {
    const dice = Math.random();
    if (dice < 0.7) {
      await replace(`s${worker}-${i % 2}`);
    } else if (dice < 0.9 || created.length === 0) {
      const name = `c${run}-${worker}-${i}`;
      await store.create(name, makeValue(name, 0));
      created.push(name);
      ack('create', name, 0);
    } else {
      const name = created.splice(Math.floor(Math.random() * created.length), 1)[0] as string;
      // Announced first: a kill after the delete but before its ack may leave the entry gone.
      process.stdout.write(`intent delete ${name} 0\n`);
      await store.delete(name);
      ack('delete', name, 0);
    }
  }
}

process.stdout.write('ready\n');
await Promise.all([0, 1, 2, 3].map(loop));
