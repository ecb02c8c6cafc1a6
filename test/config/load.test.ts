/** The configuration loader: KES-compatible keys, env expansion, and errors that name the key. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { VERSION } from '../../src/version.js';

const ID = 'a'.repeat(64);
const ID2 = 'b'.repeat(64);
const minimal = `admin:\n  identity: ${ID}\ntls:\n  key: k.pem\n  cert: c.pem\nkeystore:\n  memory: {}\n`;

function fails(text: string, message: RegExp, env: NodeJS.ProcessEnv = {}): void {
  expect(() => parseConfig(text, 'cfg.yml', env)).toThrow(ConfigError);
  expect(() => parseConfig(text, 'cfg.yml', env)).toThrow(message);
}

describe('valid configurations', () => {
  it('fills KES defaults', () => {
    const c = parseConfig(minimal, 'cfg.yml', {});
    expect(c.address).toBe('0.0.0.0:7373');
    expect(c.tls.auth).toBe('off');
    expect(c.policy_match).toBe('glob');
    expect(c.cache.expiry).toEqual({ any: '5m', unused: '30s', offline: '0', credentials: '10s' });
    expect(Object.isFrozen(c.tls)).toBe(true);
  });

  it('reads a KES server config unchanged', () => {
    const kes = `
version: v1
address: 0.0.0.0:7373
admin:
  identity: disabled
tls:
  key: ./server.key
  cert: ./server.cert
  auth: on
  ca: ./ca.pem
policy:
  minio:
    allow:
    - /v1/key/create/minio-*
    - /v1/key/generate/minio-*
    - /v1/key/decrypt/minio-*
    deny: []
    identities:
    - \${MINIO_IDENTITY}
cache:
  expiry:
    any: 5m0s
    unused: 20s
    offline: 0s
log:
  error: on
  audit: off
keys:
  - name: minio-default
keystore:
  fs:
    path: ./keys
`;
    const c = parseConfig(kes, 'kes.yml', { MINIO_IDENTITY: ID });
    expect(c.policy['minio']?.identities).toEqual([ID]);
    expect(c.keystore.fs?.path).toBe('./keys');
  });

  it('expands ${VAR} inside strings, but not in policy patterns', () => {
    const c = parseConfig(minimal.replace('k.pem', '${DIR}/k.pem') + 'policy:\n  p:\n    allow: ["/v1/key/${X}"]\n', 'cfg.yml', { DIR: '/etc/keygate' });
    expect(c.tls.key).toBe('/etc/keygate/k.pem');
    expect(c.policy['p']?.allow).toEqual(['/v1/key/${X}']);
  });

  it('accepts config.example.yml', () => {
    const text = readFileSync(new URL('../../config.example.yml', import.meta.url), 'utf8');
    const c = parseConfig(text, 'config.example.yml', { KEYGATE_ADMIN_IDENTITY: ID, KEYGATE_APP_IDENTITY: ID2 });
    expect(c.keystore.fs?.path).toBe('./data');
  });
});

describe('invalid configurations name the file, line and key', () => {
  it('unknown keys', () => fails(minimal + 'tls_typo: 1\n', /^cfg\.yml:\d+: tls_typo: unknown key$/));
  it('nested unknown keys', () => fails(minimal.replace('cert: c.pem', 'cert: c.pem\n  auht: on'), /cfg\.yml:6: tls\.auht: unknown key/));
  it('wrong enum', () => fails(minimal.replace('cert: c.pem', 'cert: c.pem\n  auth: maybe'), /cfg\.yml:6: tls\.auth: must be one of "on", "off"/));
  it('wrong type', () => fails(minimal + 'policy:\n  p:\n    allow: /v1/x\n', /policy\.p\.allow: must be array/));
  it('missing keys', () => fails('admin:\n  identity: x\nkeystore:\n  memory: {}\n', /tls: required key is missing/));
  it('no keystore', () => fails(minimal.replace('keystore:\n  memory: {}\n', 'keystore: {}\n'), /exactly one keystore/));
  it('two keystores', () => fails(minimal + '  fs:\n    path: x\n', /exactly one keystore/));
  it('bad duration', () => fails(minimal + 'cache:\n  expiry:\n    any: 5 minutes\n', /cache\.expiry\.any: invalid value "5 minutes"/));
  it('bad address', () => fails(minimal + 'address: localhost\n', /address: invalid value/));
  it('unset variables', () => fails(minimal.replace(ID, '${NOPE}'), /admin\.identity: environment variable 'NOPE' is not set/));
  it('an identity in two policies', () =>
    fails(
      minimal + `policy:\n  a:\n    identities: [${ID2}]\n  b:\n    identities: [${ID2}]\n`,
      /policy\.b\.identities\[0\]: identity already has a policy \('a'\)/,
    ));
  it('the admin in a policy', () => fails(minimal + `policy:\n  a:\n    identities: [${ID}]\n`, /admin identity cannot be assigned/));
  it('malformed glob patterns', () => fails(minimal + 'policy:\n  a:\n    allow: ["/v1/key/[a-"]\n', /cfg\.yml:\d+: policy\.a\.allow\[0\]: /));
  it('invalid policy names', () => fails(minimal + 'policy:\n  "a b": {}\n', /invalid name 'a b'/));
  it('duplicate YAML keys', () => fails(minimal + 'address: 1.2.3.4:1\naddress: 1.2.3.4:2\n', /cfg\.yml:\d+: invalid YAML/));
  it('YAML syntax', () => fails('admin: [\n', /cfg\.yml:\d+: invalid YAML/));
  it('vault without auth', () =>
    fails(minimal.replace('memory: {}', 'vault:\n    endpoint: http://127.0.0.1:8200'), /keystore\.vault: exactly one authentication method/));
});

it('keeps src/version.ts equal to package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  expect(VERSION).toBe(pkg.version);
});
