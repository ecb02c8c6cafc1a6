/**
 * Key versions cost the hot path nothing: a request on a key (rotated or not) reads one
 * keystore entry, as before versions existed, and nothing but rotate and config writes.
 */
import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../../keystores/memory.js';
import type { Entry } from '../../keystores/keystore.js';
import { KeyService } from '../../src/core/keys/service.js';

class CountingMemoryStore extends MemoryKeyStore {
  gets = 0;
  updates = 0;
  override get(name: string): Promise<Entry> {
    this.gets++;
    return super.get(name);
  }
  override update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    this.updates++;
    return super.update(name, value, expectedVersion);
  }
}

async function requestsCost(store: CountingMemoryStore, keys: KeyService): Promise<{ gets: number; updates: number }> {
  const before = { gets: store.gets, updates: store.updates };
  const dek = await keys.generate('k', Buffer.from('ctx'));
  await keys.decrypt('k', dek.ciphertext, Buffer.from('ctx'));
  const ct = await keys.encrypt('k', Buffer.from('x'), undefined);
  await keys.rewrap('k', ct, undefined);
  await keys.hmac('k', Buffer.from('m'));
  return { gets: store.gets - before.gets, updates: store.updates - before.updates };
}

describe('the hot path', () => {
  it('reads one entry per request and writes nothing, before and after a rotation', async () => {
    const store = new CountingMemoryStore();
    const keys = new KeyService(store);
    await keys.create('k', 'me');
    expect(await requestsCost(store, keys)).toEqual({ gets: 5, updates: 0 });
    // Setting the minimum a key already has writes nothing (a KES-format key stays as it is).
    await keys.setMinDecryptionVersion('k', 1);
    expect(store.updates).toBe(0);

    await keys.rotate('k', 'me');
    expect(store.updates).toBe(1);
    expect(await requestsCost(store, keys)).toEqual({ gets: 5, updates: 0 });
  });
});
