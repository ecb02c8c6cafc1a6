/** Bundle names, their entries, listing prefixes and server names. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isValidEntryName } from '../../../keystores/keystore.js';
import { MAX_BUNDLE_NAME, entryOf, entryPrefixOf, isValidBundleName, isValidBundlePrefix, lookupKeys, nameOfEntry, parseServerName } from './names.js';

describe('bundle names', () => {
  it.each([
    'www.example.com',
    'example.com.',
    '_acme-challenge.example.com',
    'a',
    'A-b_c.1',
    '*.example.com',
    '*.a',
    'x'.repeat(MAX_BUNDLE_NAME),
    '*.' + 'x'.repeat(MAX_BUNDLE_NAME - 2),
  ])('accepts %s', (name) => {
    expect(isValidBundleName(name)).toBe(true);
    expect(isValidEntryName(entryOf(name))).toBe(true);
    expect(nameOfEntry(entryOf(name))).toBe(name);
  });

  it.each([
    '',
    '.example.com',
    'a..b',
    '*',
    '*.',
    '**.example.com',
    'a.*.example.com',
    '*example.com',
    '*..example.com',
    '_',
    '_.example.com',
    '*._.example.com',
    'a/b',
    'a b',
    'a%2Fb',
    'ключ.example',
    'x'.repeat(MAX_BUNDLE_NAME + 1),
  ])('refuses %j', (name) => {
    expect(isValidBundleName(name)).toBe(false);
  });

  it('maps wildcards to `_.` entries one-to-one, never producing ".."', () => {
    expect(entryOf('*.example.com')).toBe('bundle._.example.com');
    expect(nameOfEntry('bundle._.example.com')).toBe('*.example.com');
    const name = fc.stringMatching(/^(\*\.)?[0-9A-Za-z_-][0-9A-Za-z_.-]{0,30}$/).filter(isValidBundleName);
    fc.assert(
      fc.property(name, name, (a, b) => {
        expect(entryOf(a).includes('..')).toBe(false);
        expect(nameOfEntry(entryOf(a))).toBe(a);
        expect(entryOf(a) === entryOf(b)).toBe(a === b);
      }),
    );
  });

  it('accepts leading parts of names as listing prefixes', () => {
    for (const p of ['', '*', '*.', '*.exa', 'www.', '_', '_acme', '*._', 'a-']) expect(isValidBundlePrefix(p), p).toBe(true);
    for (const p of ['.', 'a..', '_.', '*._.', '*x', 'a/b', 'x'.repeat(MAX_BUNDLE_NAME + 1)]) expect(isValidBundlePrefix(p), p).toBe(false);
    expect(entryPrefixOf('*.ex')).toBe('bundle._.ex');
    expect(entryPrefixOf('')).toBe('bundle.');
  });
});

describe('server names', () => {
  it('normalises DNS names and finds the one-label wildcard', () => {
    expect(parseServerName('WWW.Example.COM.')).toEqual({ kind: 'dns', name: 'www.example.com' });
    expect(lookupKeys(parseServerName('a.example.com')!)).toEqual({ exact: 'dns:a.example.com', wildcard: 'dns:*.example.com' });
    expect(lookupKeys(parseServerName('a.b.example.com')!).wildcard).toBe('dns:*.b.example.com');
    expect(lookupKeys(parseServerName('localhost')!)).toEqual({ exact: 'dns:localhost', wildcard: null });
  });

  it('takes IP literals, with or without brackets', () => {
    expect(lookupKeys(parseServerName('192.0.2.1')!)).toEqual({ exact: 'ip:c0000201', wildcard: null });
    expect(lookupKeys(parseServerName('[2001:db8::1]')!).exact).toBe('ip:20010db8000000000000000000000001');
    expect(parseServerName('fe80::1%eth0')).toBeNull();
  });

  it.each(['', '*.example.com', 'a..b', '-a.example.com', 'a-.example.com', 'a b', 'x'.repeat(64) + '.com', 'a.'.repeat(127) + 'a'])('refuses %j', (raw) => {
    expect(parseServerName(raw)).toBeNull();
  });
});
