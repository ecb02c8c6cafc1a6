import { describe, expect, it } from 'vitest';
import { BundleChanges } from './changes.js';

const HOUR = 3_600_000;

describe('BundleChanges', () => {
  it('wakes a waiter on a change of its name only, and forgets it afterwards', async () => {
    const changes = new BundleChanges();
    const signal = new AbortController().signal;
    let woke = false;
    const waiting = changes.next('a.example', HOUR, signal).then(() => (woke = true));
    changes.notify('b.example');
    await Promise.resolve();
    expect(woke).toBe(false);
    changes.notify('a.example');
    await waiting;
    expect(woke).toBe(true);
    expect((changes as unknown as { emitter: { listenerCount(n: string): number } }).emitter.listenerCount('a.example')).toBe(0);
  });

  it('wakes every waiter at shutdown', async () => {
    const changes = new BundleChanges();
    const closing = new AbortController();
    const both = Promise.all([changes.next('a.example', HOUR, closing.signal), changes.next('b.example', HOUR, closing.signal)]);
    closing.abort();
    await expect(both).resolves.toEqual([undefined, undefined]);
  });
});
