/** The decode memo answers only with what the keystore just returned. */
import { describe, expect, it } from 'vitest';
import { DecodeMemo } from './decode-memo.js';

const entry = (text: string, version = '1') => ({ value: Buffer.from(text), version });

describe('DecodeMemo', () => {
  it('decodes once for the same entry object, or the same version and bytes, and again otherwise', () => {
    const memo = new DecodeMemo<string>(8);
    let calls = 0;
    const decode = (v: Buffer) => (calls++, v.toString().toUpperCase());
    const held = entry('abc');
    expect(memo.decode('a', held, decode)).toBe('ABC');
    expect(memo.decode('a', held, decode)).toBe('ABC');
    expect(memo.decode('a', entry('abc'), decode)).toBe('ABC'); // a copy: same version, same bytes
    expect(calls).toBe(1);
    expect(memo.decode('a', entry('abd'), decode)).toBe('ABD'); // same version, other bytes (a backend reusing versions)
    expect(memo.decode('a', entry('abd', '2'), decode)).toBe('ABD'); // other version
    expect(calls).toBe(3);
  });

  it('keeps at most `capacity` names; once full, admits a name on its second read, dropping the least recently used', () => {
    const memo = new DecodeMemo<number>(2);
    let calls = 0;
    const decode = (v: Buffer) => (calls++, v.length);
    const a = entry('a');
    const b = entry('bb');
    const c = entry('ccc');
    memo.decode('a', a, decode);
    memo.decode('b', b, decode);
    memo.decode('a', a, decode); // a is now the most recent
    expect(calls).toBe(2);
    memo.decode('c', c, decode); // full, and c is new: decoded, not kept
    memo.decode('a', a, decode);
    memo.decode('b', b, decode);
    expect(calls).toBe(3);
    memo.decode('c', c, decode); // read again: admitted, evicting a (b was read later)
    expect(calls).toBe(4);
    memo.decode('c', c, decode);
    memo.decode('b', b, decode);
    expect(calls).toBe(4);
    memo.decode('a', a, decode);
    expect(calls).toBe(5);
  });

  it('keeps nothing of reads spread over many more names than it holds, and still takes in a name read twice', () => {
    const memo = new DecodeMemo<object>(16);
    let calls = 0;
    const decode = () => (calls++, {});
    const warm = Array.from({ length: 16 }, () => entry('w'));
    warm.forEach((e, i) => memo.decode(`warm-${i}`, e, decode));
    for (let i = 0; i < 5000; i++) memo.decode(`cold-${i}`, entry('c'), decode); // each name read once
    expect(calls).toBe(16 + 5000);
    warm.forEach((e, i) => memo.decode(`warm-${i}`, e, decode));
    expect(calls).toBe(16 + 5000); // the cold names evicted none of the warm ones
    const hot = entry('hot');
    const first = memo.decode('hot', hot, decode);
    const second = memo.decode('hot', hot, decode);
    expect(second).not.toBe(first); // first read: decoded, not kept
    expect(memo.decode('hot', hot, decode)).toBe(second); // second read: kept
    expect(calls).toBe(16 + 5000 + 2);
  });

  it('forgets a name on request, and never caches a failed decode', () => {
    const memo = new DecodeMemo<string>(4);
    const e = entry('x');
    memo.decode('x', e, (v) => v.toString());
    memo.forget('x');
    expect(memo.decode('x', e, () => 'again')).toBe('again');
    const bad = entry('bad');
    expect(() =>
      memo.decode('y', bad, () => {
        throw new Error('malformed');
      }),
    ).toThrow('malformed');
    expect(memo.decode('y', bad, () => 'fixed')).toBe('fixed');
  });
});
