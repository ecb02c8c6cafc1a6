import { describe, expect, it } from 'vitest';
import { freshRandom } from './random.js';

describe('freshRandom', () => {
  it('hands out bytes no other call gets, each in a buffer of its own, across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const b = freshRandom(28 + (i % 40));
      expect(b).toHaveLength(28 + (i % 40));
      expect(b.byteOffset).toBe(0);
      expect(b.buffer.byteLength).toBe(b.length);
      const hex = b.toString('hex');
      expect(seen.has(hex)).toBe(false);
      seen.add(hex);
    }
  });

  it('is not all zeros (a pool that was wiped but not refilled would be)', () => {
    const all = Buffer.concat(Array.from({ length: 200 }, () => freshRandom(60)));
    expect(all.some((x) => x !== 0)).toBe(true);
    // Wiped bytes never come back: no 16-byte run of zeros in 12 000 random bytes.
    expect(all.includes(Buffer.alloc(16))).toBe(false);
  });

  it('refuses sizes outside 0…4096', () => {
    expect(() => freshRandom(4097)).toThrow(RangeError);
    expect(() => freshRandom(-1)).toThrow(RangeError);
    expect(() => freshRandom(1.5)).toThrow(RangeError);
    expect(freshRandom(0)).toHaveLength(0);
    expect(freshRandom(4096)).toHaveLength(4096);
  });
});
