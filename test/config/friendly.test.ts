/**
 * Issue 12: configuration mistakes a newcomer makes get an answer that says what to do —
 * a typo'd key names the nearest known key, `${VAR}` works for numbers and booleans,
 * and settings that cannot work are refused at start-up instead of failing every request.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, nearestKey } from '../../src/config/load.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { ConfigError } from '../../src/errors.js';

const ID = 'a'.repeat(64);
const minimal = `admin:\n  identity: ${ID}\ntls:\n  key: k.pem\n  cert: c.pem\nkeystore:\n  memory: {}\n`;

function refusal(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(text, 'cfg.yml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('a typo names the nearest known key at that level', () => {
  it.each([
    ['nested', minimal.replace('cert: c.pem', 'cert: c.pem\n  auht: on'), "cfg.yml:6: tls.auht: unknown key (did you mean 'auth'?)"],
    ['top level', minimal + 'adress: 127.0.0.1:1\n', "adress: unknown key (did you mean 'address'?)"],
    ['deeper', minimal + 'cache:\n  max_byte: 10\n', "cache.max_byte: unknown key (did you mean 'max_bytes'?)"],
    ['a keystore', minimal.replace('memory: {}', 'fss:\n    path: x'), "keystore.fss: unknown key (did you mean 'fs'?)"],
    ['case', minimal + 'Limits:\n  max_connections: 1\n', "Limits: unknown key (did you mean 'limits'?)"],
  ])('%s', (_what, text, message) => {
    expect(refusal(text)).toContain(message);
  });

  it('suggests nothing when no key is near', () => {
    expect(refusal(minimal + 'tls_typo: 1\n')).toMatch(/: tls_typo: unknown key$/);
    expect(nearestKey('zzz', ['address', 'admin'])).toBeUndefined();
  });

  it("works for every file read through the same loader (the agent's)", () => {
    const agent =
      'server: https://127.0.0.1:7373\ntls:\n  ca: ca.pem\n  cert: c.pem\n  key: k.pem\nbundles: [a.test]\noutput: {dir: x}\nreload: {comand: nginx}\n';
    expect(() => parseAgentConfig(agent, 'agent.yml', {})).toThrow("reload.comand: unknown key (did you mean 'command'?)");
  });
});

describe('${VAR} as a whole value takes the type the schema wants', () => {
  it('integers, numbers-or-strings and booleans', () => {
    const text =
      minimal.replace('memory: {}', 'vault:\n    endpoint: https://vault:8200\n    token: t\n    tls:\n      insecure: ${INSECURE}') +
      'cache:\n  max_bytes: ${MAX}\nserver:\n  workers: ${WORKERS}\nlimits:\n  max_connections: ${CONNS}\n';
    const c = parseConfig(text, 'cfg.yml', { MAX: '1048576', WORKERS: '2', CONNS: '10', INSECURE: 'true' });
    expect(c.cache.max_bytes).toBe(1048576);
    expect(c.server.workers).toBe(2);
    expect(c.limits.max_connections).toBe(10);
    expect(c.keystore.vault?.tls?.insecure).toBe(true);
    expect(parseConfig(text, 'cfg.yml', { MAX: '1', WORKERS: 'auto', CONNS: '1', INSECURE: 'false' }).server.workers).toBe('auto');
  });

  it('leaves strings alone, and substitutions inside a string', () => {
    const c = parseConfig(minimal.replace(ID, '${ID}') + 'address: "127.0.0.1:${PORT}"\n', 'cfg.yml', { ID: '1234', PORT: '8443' });
    expect(c.admin.identity).toBe('1234');
    expect(c.address).toBe('127.0.0.1:8443');
  });

  it('a value that is not a number is refused, naming the variable', () => {
    expect(refusal(minimal + 'cache:\n  max_bytes: ${MAX}\n', { MAX: 'lots' })).toContain(
      "cache.max_bytes: must be integer (the value of environment variable 'MAX' is not one)",
    );
  });
});

describe('settings that cannot work are refused at start-up', () => {
  it('tls.auth: on without tls.ca', () => {
    expect(refusal(minimal.replace('cert: c.pem', 'cert: c.pem\n  auth: on'))).toMatch(/^cfg\.yml:6: tls\.auth: 'on' needs tls\.ca/);
    expect(parseConfig(minimal.replace('cert: c.pem', 'cert: c.pem\n  auth: on\n  ca: ca.pem'), 'cfg.yml', {}).tls.auth).toBe('on');
  });

  it('a port out of range, in words (0 picks a free port)', () => {
    expect(refusal(minimal + 'address: 127.0.0.1:99999\n')).toContain('address: port 99999 is out of range: use 1-65535, or 0 for any free port');
    expect(parseConfig(minimal + 'address: 127.0.0.1:0\n', 'cfg.yml', {}).address).toBe('127.0.0.1:0');
    expect(parseConfig(minimal + 'address: "[::1]:65535"\n', 'cfg.yml', {}).address).toBe('[::1]:65535');
  });
});
