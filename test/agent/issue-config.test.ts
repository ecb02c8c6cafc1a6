/** `certificates:` in agent.yml: defaults, templates bound to the node, and the refusals. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseAgentConfig, resolveSettings } from '../../src/agent/config.js';

const base = `
server: https://keygate.example:7373
tls: {ca: /etc/keygate/ca.crt}
node: {group: edge, group_token: t, id: edge-7}
output: {dir: /run/keygate}
`;
const withCert = (entry: string, extra = '') => `${base}${extra}certificates:\n  - ${entry}\n`;

const fails = (text: string) => {
  try {
    parseAgentConfig(text, 'agent.yml', {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('agent configuration: certificates', () => {
  it('needs no bundles; fills in the defaults and expands the templates', () => {
    const s = resolveSettings(
      parseAgentConfig(
        withCert(
          '{name: web, role: edge, common_name: "{{node_id}}.edge.example", alt_names: ["{{ group }}-{{node_id}}.example", "{{node_id}}.edge.example"]}',
        ),
        'agent.yml',
        {},
      ),
    );
    expect(s.bundles).toEqual([]);
    expect(s.certificates).toEqual([
      {
        name: 'web',
        role: 'edge',
        commonName: 'edge-7.edge.example',
        dnsNames: ['edge-7.edge.example', 'edge-edge-7.example'],
        ipAddresses: [],
        keyType: 'ecdsa-p256',
        ttl: '1h',
        ttlMs: 3_600_000,
        dir: '/run/keygate',
        revokeOnExit: false,
      },
    ]);
  });

  it('takes every option', () => {
    const entry =
      '{name: api, role: r, common_name: api.example, alt_names: ["*.api.example"], ip_sans: ["10.0.0.1", "::1"], key_type: ed25519, ttl: 30m, dir: /run/api, revoke_on_exit: true}';
    const [c] = resolveSettings(parseAgentConfig(withCert(entry, 'bundles: all\n'), 'agent.yml', {})).certificates ?? [];
    expect(c).toEqual({
      name: 'api',
      role: 'r',
      commonName: 'api.example',
      dnsNames: ['api.example', '*.api.example'],
      ipAddresses: ['10.0.0.1', '::1'],
      keyType: 'ed25519',
      ttl: '30m',
      ttlMs: 1_800_000,
      dir: '/run/api',
      revokeOnExit: true,
    });
  });

  it('leaves the settings as before when there are none', () => {
    expect(resolveSettings(parseAgentConfig(base + 'bundles: [site.test]\n', 'agent.yml', {}))).not.toHaveProperty('certificates');
  });

  it.each([
    ['neither bundles nor certificates', base, 'bundles: required key is missing (list bundles, certificates, or both)'],
    [
      'an unknown template variable',
      withCert('{name: web, role: r, common_name: "{{host}}.example"}'),
      "certificates[0].common_name: unknown template variable '{{host}}' (known: {{node_id}}, {{group}})",
    ],
    [
      '{{node_id}} without node.id',
      withCert('{name: web, role: r, common_name: "{{node_id}}.example"}')
        .replace('node: {group: edge, group_token: t, id: edge-7}\n', '')
        .replace('ca: /etc/keygate/ca.crt', 'ca: c, cert: a, key: b'),
      'certificates[0].common_name: {{node_id}} needs node.id to be set',
    ],
    [
      'a name that is not a DNS name',
      withCert('{name: web, role: r, common_name: "a b.example"}'),
      "certificates[0].common_name: 'a b.example' is not a DNS name",
    ],
    [
      'an alt name that is not a DNS name',
      withCert('{name: web, role: r, common_name: a.example, alt_names: ["x/y"]}'),
      "certificates[0].alt_names[0]: 'x/y' is not a DNS name",
    ],
    [
      'an IP SAN that is not an address',
      withCert('{name: web, role: r, common_name: a.example, ip_sans: [10.0.0.300]}'),
      "certificates[0].ip_sans[0]: '10.0.0.300' is not an IP address",
    ],
    ['a file name with a slash', withCert('{name: ../web, role: r, common_name: a.example}'), "certificates[0].name: invalid file name '../web'"],
    ['an unknown key type', withCert('{name: web, role: r, common_name: a.example, key_type: dsa}'), 'certificates[0].key_type: must be one of'],
    ['a lifetime too short to renew', withCert('{name: web, role: r, common_name: a.example, ttl: 5s}'), 'certificates[0].ttl: must be at least 10s'],
    ['a bad lifetime', withCert('{name: web, role: r, common_name: a.example, ttl: 1 hour}'), "certificates[0].ttl: invalid duration '1 hour'"],
    ['a missing role', withCert('{name: web, common_name: a.example}'), 'certificates[0].role: required key is missing'],
    [
      'a name listed twice',
      `${base}certificates:\n  - {name: web, role: r, common_name: a.example}\n  - {name: web, role: r, common_name: b.example, dir: /elsewhere}\n`,
      "certificates[1].name: certificate 'web' is listed twice",
    ],
    [
      'a name that is also a bundle',
      withCert('{name: site.test, role: r, common_name: a.example}', 'bundles: [site.test]\n'),
      "certificates[0].name: 'site.test' is also a bundle of output.dir",
    ],
    [
      'output.dir with bundles: all',
      withCert('{name: web, role: r, common_name: a.example}', 'bundles: all\n'),
      "certificates[0].dir: with 'bundles: all' the agent owns every file of output.dir",
    ],
  ])('refuses %s', (_what, text, message) => {
    expect(fails(text)).toContain(message);
  });
});
