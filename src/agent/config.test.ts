import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { isLoopback, loadAgentConfig, parseAgentConfig, resolveSettings } from './config.js';

const minimal = `
server: https://keygate.example:7373
tls:
  ca: /etc/keygate/ca.crt
  cert: /etc/keygate/node.crt
  key: /etc/keygate/node.key
bundles: [site.test, "*.example.com"]
output:
  dir: /run/keygate
`;

const fails = (text: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseAgentConfig(text, 'agent.yml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('agent configuration', () => {
  it('fills in the defaults', () => {
    const s = resolveSettings(parseAgentConfig(minimal, 'agent.yml', {}));
    expect(s).toEqual({
      server: 'https://keygate.example:7373',
      tls: { ca: '/etc/keygate/ca.crt', cert: '/etc/keygate/node.crt', key: '/etc/keygate/node.key', insecure: false },
      auth: { mode: 'certificate' },
      bundles: ['site.test', '*.example.com'],
      output: { dir: '/run/keygate', combined: false, removeRevoked: true },
      reload: { timeoutMs: 30_000 },
      refresh: { jitter: 0.1, retryMinMs: 1000, retryMaxMs: 300_000, timeoutMs: 30_000, listIntervalMs: 60_000, watch: true },
      logLevel: 'info',
    });
  });

  it('reads a full file: group registration, reload command, status endpoint, ${VAR} expansion', () => {
    const text = `
server: https://127.0.0.1:7373/
tls: { ca: certs/ca.crt }
node:
  group: edge
  group_token: \${GROUP_TOKEN}
  id: edge-1
bundles: all
output: { dir: out, combined: true, remove_revoked: false }
reload:
  command: [nginx, -s, reload]
  timeout: 5s
refresh: { jitter: 0.2, retry_min: 500ms, retry_max: 1m, timeout: 10s, list_interval: 30s, watch: false }
status: { address: "127.0.0.1:9273" }
log: { level: debug }
`;
    const s = resolveSettings(parseAgentConfig(text, 'agent.yml', { GROUP_TOKEN: 'kgt_secret' }));
    expect(s.auth).toEqual({ mode: 'register', group: 'edge', groupToken: 'kgt_secret', nodeId: 'edge-1' });
    expect(s.server).toBe('https://127.0.0.1:7373');
    expect(s.bundles).toBe('all');
    expect(s.output).toEqual({ dir: 'out', combined: true, removeRevoked: false });
    expect(s.reload).toEqual({ command: ['nginx', '-s', 'reload'], timeoutMs: 5000 });
    expect(s.refresh).toEqual({ jitter: 0.2, retryMinMs: 500, retryMaxMs: 60_000, timeoutMs: 10_000, listIntervalMs: 30_000, watch: false });
    expect(s.status).toEqual({ host: '127.0.0.1', port: 9273 });
    expect(s.logLevel).toBe('debug');
  });

  it('enrolls the certificate when node.enroll is set', () => {
    const text = minimal + 'node: { group: edge, group_token: t, enroll: true }\n';
    expect(resolveSettings(parseAgentConfig(text, 'agent.yml', {})).auth).toEqual({ mode: 'enroll', group: 'edge', groupToken: 't' });
  });

  it.each([
    ['an unknown key, with its line', minimal + 'extra: 1\n', 'agent.yml:10: extra: unknown key'],
    ['a missing output', 'server: https://a:1\ntls: {cert: a, key: b}\nbundles: all\n', 'output: required key is missing'],
    ['an http server', minimal.replace('https://', 'http://'), 'server: invalid value'],
    ['an invalid bundle name', minimal.replace('site.test', '../etc'), "agent.yml:7: bundles[0]: invalid bundle name '../etc'"],
    ['a bundle listed twice', minimal.replace('"*.example.com"', 'site.test'), "bundles[1]: bundle 'site.test' is listed twice"],
    ['an empty bundle list', minimal.replace('[site.test, "*.example.com"]', '[]'), 'bundles: must NOT have fewer than 1 items'],
    ['a certificate without its key', minimal.replace('  key: /etc/keygate/node.key\n', ''), 'tls: cert and key must be given together'],
    ['no credential at all', 'server: https://a:1\nbundles: all\noutput: {dir: x}\n', 'no credential: set tls.cert and tls.key'],
    ['registration without a node id', 'server: https://a:1\nnode: {group: g, group_token: t}\nbundles: all\noutput: {dir: x}\n', 'node.id is required'],
    [
      'enrollment without a certificate',
      'server: https://a:1\nnode: {group: g, group_token: t, enroll: true}\nbundles: all\noutput: {dir: x}\n',
      'set tls.cert and tls.key',
    ],
    ['a bad duration', minimal + 'reload: {timeout: 5 minutes}\n', "reload.timeout: invalid duration '5 minutes'"],
    ['a zero duration', minimal + 'refresh: {timeout: "0"}\n', 'refresh.timeout: must be longer than 0'],
    ['retry_min above retry_max', minimal + 'refresh: {retry_min: 10m, retry_max: 1m}\n', 'refresh.retry_min: must not exceed refresh.retry_max'],
    ['too much jitter', minimal + 'refresh: {jitter: 0.9}\n', 'refresh.jitter: must be <= 0.5'],
    ['a status endpoint off loopback', minimal + 'status: {address: "0.0.0.0:9273"}\n', 'status.address: the status endpoint listens on loopback only'],
    ['a status address without a port', minimal + 'status: {address: localhost}\n', 'status.address: expected host:port'],
    ['an unset variable', minimal + 'node: {group: g, group_token: "${NOPE}"}\n', "environment variable 'NOPE' is not set"],
  ])('refuses %s', (_what, text, message) => {
    expect(fails(text)).toContain(message);
  });

  it('names a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keygate-agent-config-'));
    expect(() => loadAgentConfig(join(dir, 'missing.yml'))).toThrow(/missing\.yml: cannot read configuration file \(ENOENT\)/);
    writeFileSync(join(dir, 'agent.yml'), minimal);
    expect(loadAgentConfig(join(dir, 'agent.yml')).bundles).toEqual(['site.test', '*.example.com']);
    rmSync(dir, { recursive: true });
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1'].some(isLoopback)).toBe(false);
  });
});
