/**
 * Issue 11 items 10 and 13: a node id is exactly one path segment of the callback URL (no
 * parser turns it into the manager's collection or parent); callers learn one stable message
 * per failure class, the detail goes to the cause (the error log); and whether a check may
 * connect to this host is decided on the address, whatever spelling the URL used.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CALLBACK_FAILURES, CallbackClient, nodeCallbackURL, refusedAddress } from './callback.js';
import { DEFAULT_SETTINGS, applySettings, type GroupSettings } from './group-settings.js';
import { isValidNodeId, NODE_ID_RULES } from './node-id.js';
import { startGroupManager, type GroupManager } from '../../../test/helpers/group-manager.js';
import { BadRequestError, KeygateError } from '../../errors.js';

let gm: GroupManager;
let port = 0;

beforeAll(async () => {
  gm = await startGroupManager({ mode: 'rks' });
  port = Number(new URL(gm.url).port);
});
afterAll(() => gm.close());

function settingsFor(host: string, extra: Partial<GroupSettings> = {}): GroupSettings {
  const base = `https://${host}:${port}`;
  return {
    ...DEFAULT_SETTINGS,
    callbackUrl: `${base}/callback/nodes`,
    oauthUrl: `${base}/api/identity/oauth/token`,
    oauthClientId: gm.clientId,
    oauthClientSecret: gm.clientSecret,
    oauthMode: 'rks',
    callbackCa: gm.caPem,
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<KeygateError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeygateError);
  return err as KeygateError;
}

const DOT_SEGMENTS = ['.', '..', '%2e', '%2E', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '.%2E'];

describe('node ids are one path segment', () => {
  it('refuses dot segments in every spelling, empty ids, NUL, control characters and spaces', () => {
    for (const bad of [...DOT_SEGMENTS, '', '\0', 'a\0b', 'a\nb', 'a b', '\x7f', 'x'.repeat(129), 'é']) {
      expect(isValidNodeId(bad), JSON.stringify(bad)).toBe(false);
      expect(() => nodeCallbackURL('https://m.example/api/nodes', bad)).toThrow(BadRequestError);
      expect(() => nodeCallbackURL('https://m.example/api/nodes', bad)).toThrow(NODE_ID_RULES);
    }
    for (const good of ['...', '..a', 'a..', '.a', 'a/..', '../a', '%2e%2e%2e', '%252e', 'a/b?c#d%', '\\..', 'node-1']) {
      expect(isValidNodeId(good), good).toBe(true);
    }
  });

  it('any valid id ends the path as exactly one segment that decodes back to it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('https://m.example/api/nodes', 'https://m.example/api/nodes/', 'https://m.example:8443/a%20b/nodes//', 'https://m.example'),
        fc.stringMatching(/^[\x21-\x7e]{1,20}$/),
        (base, id) => {
          fc.pre(isValidNodeId(id));
          const url = nodeCallbackURL(base, id);
          const segments = url.pathname.split('/');
          expect(decodeURIComponent(segments.at(-1) as string)).toBe(id);
          expect(url.pathname).toBe(new URL(base).pathname.replace(/\/+$/, '') + '/' + encodeURIComponent(id));
          expect(url.search + url.hash).toBe('');
        },
      ),
    );
  });

  it('the manager is never asked about its collection or parent', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const before = gm.requests.length;
    for (const id of DOT_SEGMENTS) {
      expect(await failure(client.verify(settingsFor('localhost'), id))).toMatchObject({ status: 400, message: NODE_ID_RULES });
    }
    // Refused before any request: not even the OAuth token was fetched.
    expect(gm.requests.slice(before)).toEqual([]);
    await client.verify(settingsFor('localhost'), '..a');
    expect(
      gm.requests
        .slice(before)
        .filter((r) => r.method === 'GET')
        .map((r) => r.target),
    ).toEqual(['/callback/nodes/..a']);
  });
});

describe('what a failed check tells the caller', () => {
  const allClasses = new Set<string>(Object.values(CALLBACK_FAILURES));

  it('one stable message per class, the detail only in the cause', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const cases: Array<[Partial<GroupSettings>, string, string | RegExp]> = [
      [{ oauthUrl: 'https://127.0.0.1:1/token' }, CALLBACK_FAILURES.oauthUnreachable, /ECONNREFUSED$/],
      [{ oauthUrl: '', callbackUrl: 'https://127.0.0.1:1/nodes' }, CALLBACK_FAILURES.managerUnreachable, /ECONNREFUSED$/],
      [{ callbackCa: '' }, CALLBACK_FAILURES.oauthUnreachable, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/],
      [{ oauthClientSecret: 'wrong' }, CALLBACK_FAILURES.oauthRefused, /answered 401$/],
      [{ oauthUrl: `https://localhost:${0}/x` }, CALLBACK_FAILURES.oauthUnreachable, /./],
      [{ oauthUrl: '' }, CALLBACK_FAILURES.managerInvalid, /answered 401$/],
    ];
    for (const [extra, message, detail] of cases) {
      const err = await failure(client.verify({ ...settingsFor('localhost'), ...extra }, 'n1'));
      expect(err.message, JSON.stringify(extra)).toBe(message);
      expect(err.status).toBe(502);
      expect((err.cause as Error).message).toMatch(detail);
    }
    gm.behaviour = () => 302;
    try {
      const err = await failure(client.verify(settingsFor('localhost'), 'n1'));
      expect(err.message).toBe(CALLBACK_FAILURES.managerInvalid);
      expect((err.cause as Error).message).toMatch(/\/callback\/nodes\/n1: answered 302$/);
    } finally {
      gm.behaviour = () => 'allow';
    }
    const invalidToken = await failure(client.verify(settingsFor('localhost', { oauthUrl: `https://localhost:${port}/callback/nodes/x` }), 'n1'));
    expect(invalidToken.message).toBe(CALLBACK_FAILURES.oauthInvalid);
    for (const m of allClasses) expect(m).not.toMatch(/\d|ECONN|answered/);
  });

  it('the cause names the server by origin and path only: the rks mode puts the secret in the query', async () => {
    const err = await failure(new CallbackClient({ allowLoopback: true }).verify(settingsFor('localhost', { oauthClientSecret: 'the-secret-x' }), 'n1'));
    const cause = (err.cause as Error).message;
    expect(cause).toBe(`callback: OAuth server https://localhost:${port}/api/identity/oauth/token: answered 401`);
    expect(`${err.message} ${cause} ${err.stack}`).not.toContain('the-secret-x');
  });
});

describe('this host is one host, however it is spelt', () => {
  const LOOPBACK_SPELLINGS = [
    '127.0.0.1',
    '127.1',
    '0x7f000001',
    '2130706433',
    '0177.0.0.1',
    '127.0.0.2',
    'localhost',
    'LOCALHOST',
    '[::1]',
    '[0:0::1]',
    '[::ffff:127.0.0.1]',
  ];
  const UNSPECIFIED_SPELLINGS = ['0', '0.0.0.0', '0x0', '00.0.0.0', '[::]', '[0::0]', '[::ffff:0.0.0.0]', '[::127.0.0.1]'];

  it('classifies addresses, IPv4-mapped ones as their IPv4 address', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
      expect(refusedAddress(a, false), a).toBe('a loopback address');
      expect(refusedAddress(a, true), a).toBeNull();
    }
    for (const a of ['0.0.0.0', '0.1.2.3', '::', '::ffff:0.0.0.0', '::7f00:1']) {
      expect(refusedAddress(a, true), a).toBe('an unspecified address');
    }
    for (const a of ['10.0.0.1', '192.0.2.1', '2001:db8::1', 'not-an-ip']) expect(refusedAddress(a, false)).toBeNull();
  });

  it('without allowLoopback every loopback spelling is refused alike, before any connection', async () => {
    const client = new CallbackClient();
    const before = gm.requests.length;
    for (const host of LOOPBACK_SPELLINGS) {
      const err = await failure(client.verify(settingsFor(host), 'n1'));
      expect(err.message, host).toBe(CALLBACK_FAILURES.oauthUnreachable);
      expect((err.cause as Error).message, host).toMatch(/refused to connect to a loopback address$/);
      const direct = await failure(client.verify(settingsFor(host, { oauthUrl: '' }), 'n1'));
      expect(direct.message, host).toBe(CALLBACK_FAILURES.managerUnreachable);
    }
    expect(gm.requests.length).toBe(before);
  });

  it('with allowLoopback every loopback spelling reaches the manager alike', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    for (const host of ['127.0.0.1', '127.1', '0x7f000001', '2130706433', '0177.0.0.1', 'localhost']) {
      const before = gm.callbacks.length;
      await client.verify(settingsFor(host), 'n1');
      expect(gm.callbacks.length, host).toBe(before + 1);
    }
  });

  it('unspecified addresses are refused in every spelling: by the settings, and by the client even when loopback is allowed', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const before = gm.requests.length;
    for (const host of UNSPECIFIED_SPELLINGS) {
      expect(() => applySettings(DEFAULT_SETTINGS, { callbackUrl: `https://${host}:${port}/nodes` }), host).toThrow(
        'callback_url must not name an unspecified address (0.0.0.0, ::): it reaches this host',
      );
      expect(() => applySettings(DEFAULT_SETTINGS, { oauthUrl: `https://${host}/t` }), host).toThrow(/^oauth_url must not name an unspecified address/);
      const err = await failure(client.verify(settingsFor(host), 'n1'));
      expect(err.message, host).toBe(CALLBACK_FAILURES.oauthUnreachable);
      expect((err.cause as Error).message, host).toMatch(/refused to connect to an unspecified address$/);
    }
    expect(gm.requests.length).toBe(before);
  });
});
