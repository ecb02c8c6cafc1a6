/** The callback client against real HTTPS group managers: verdicts, OAuth modes, TLS trust, deadlines, token caching, secrecy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLBACK_FAILURES, CallbackClient, CallbackRefusedError } from './callback.js';
import { DEFAULT_SETTINGS, type GroupSettings } from './group-settings.js';
import { startGroupManager, type GroupManager } from '../../../test/helpers/group-manager.js';
import { manualClock } from '../../../test/helpers/fleet.js';
import { KeygateError } from '../../errors.js';

let rks: GroupManager;
let form: GroupManager;
let selfSigned: GroupManager;

beforeAll(async () => {
  rks = await startGroupManager({ mode: 'rks' });
  form = await startGroupManager({ mode: 'form', clientId: 'client id/with:colon', clientSecret: 'sécret&=+' });
  selfSigned = await startGroupManager({ mode: 'rks', selfSigned: true });
});
afterAll(async () => {
  await Promise.all([rks, form, selfSigned].map((m) => m.close()));
});

function settingsFor(gm: GroupManager, extra: Partial<GroupSettings> = {}): GroupSettings {
  return {
    ...DEFAULT_SETTINGS,
    callbackUrl: gm.callbackUrl,
    oauthUrl: gm.oauthUrl,
    oauthClientId: gm.clientId,
    oauthClientSecret: gm.clientSecret,
    oauthMode: gm === form ? 'form' : 'rks',
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

describe('verdicts', () => {
  it('allows on 200, refuses on 403 and 404, errs on anything else', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    rks.behaviour = (id) => (id === 'good' ? 'allow' : id === 'bad' ? 'refuse' : id === 'ghost' ? 'unknown' : id === 'boom' ? 500 : 201);
    await client.verify(settingsFor(rks), 'good');
    const refused = await failure(client.verify(settingsFor(rks), 'bad'));
    expect(refused).toBeInstanceOf(CallbackRefusedError);
    expect(refused).toMatchObject({ status: 403, reason: 'refused', message: 'not authorized: node refused by the group manager' });
    expect(await failure(client.verify(settingsFor(rks), 'ghost'))).toMatchObject({
      status: 403,
      reason: 'unknown',
      message: 'not authorized: node unknown to the group manager',
    });
    expect(await failure(client.verify(settingsFor(rks), 'boom'))).toMatchObject({ status: 502, message: CALLBACK_FAILURES.managerInvalid });
    expect(await failure(client.verify(settingsFor(rks), 'created'))).toMatchObject({ status: 502, message: CALLBACK_FAILURES.managerInvalid });
    rks.behaviour = () => 'allow';
  });

  it('skips the check without a callback URL, and calls without a bearer token without an OAuth URL', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    await client.verify({ ...DEFAULT_SETTINGS }, 'anything');
    const before = rks.callbacks.length;
    // The manager refuses a call without a valid bearer token (401): an error, not a refusal.
    expect(await failure(client.verify(settingsFor(rks, { oauthUrl: '' }), 'n1'))).toMatchObject({ status: 502, message: CALLBACK_FAILURES.managerInvalid });
    expect(rks.callbacks.slice(before)).toEqual([{ nodeId: 'n1', authorization: '' }]);
  });

  it('encodes the node id into one path segment and tolerates a trailing slash', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const before = rks.callbacks.length;
    await client.verify(settingsFor(rks, { callbackUrl: rks.callbackUrl + '/' }), 'a/b?c#d%');
    expect(rks.callbacks[before]?.nodeId).toBe('a/b?c#d%');
  });
});

describe('OAuth', () => {
  it('rks mode: Basic auth and the credentials in the query, empty body, no Content-Type', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const before = rks.oauthRequests.length;
    await client.verify(settingsFor(rks), 'n1');
    const req = rks.oauthRequests[before];
    expect(req?.body).toBe('');
    expect(req?.contentType).toBeUndefined();
    expect(req?.query.get('grant_type')).toBe('client_credentials');
    expect(rks.callbacks.at(-1)?.authorization).toBe(`Bearer ${rks.issued.at(-1)}`);
  });

  it('form mode: RFC 6749 Basic auth with form-encoded credentials and a form body; nothing in the URL', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    await client.verify(settingsFor(form), 'n1');
    expect(form.oauthRequests.at(-1)?.query.toString()).toBe('');
    expect(form.oauthRequests.at(-1)?.body).toBe('grant_type=client_credentials');
    // The same credentials in rks mode are refused by a form-only manager, and say so.
    const err = await failure(new CallbackClient({ allowLoopback: true }).verify(settingsFor(form, { oauthMode: 'rks' }), 'n1'));
    expect(err).toMatchObject({ status: 502, message: CALLBACK_FAILURES.oauthRefused });
  });

  it('caches the access token until expires_in runs out, and shares one request between concurrent checks', async () => {
    const clock = manualClock();
    const client = new CallbackClient({ now: clock.now, allowLoopback: true });
    const before = rks.oauthRequests.length;
    await client.verify(settingsFor(rks), 'n1');
    await client.verify(settingsFor(rks), 'n2');
    await Promise.all(['n3', 'n4', 'n5'].map((n) => client.verify(settingsFor(rks), n)));
    expect(rks.oauthRequests.length - before).toBe(1);
    clock.advance(3569_000 - 1); // expires_in 3599 s, less a 30 s margin
    await client.verify(settingsFor(rks), 'n6');
    expect(rks.oauthRequests.length - before).toBe(1);
    clock.advance(1);
    await client.verify(settingsFor(rks), 'n7');
    expect(rks.oauthRequests.length - before).toBe(2);
    // Settings other than the OAuth client's do not split the cache.
    await client.verify(settingsFor(rks, { callbackTimeout: 2 }), 'n8');
    expect(rks.oauthRequests.length - before).toBe(2);
  });

  it('does not cache a token without expires_in, and refetches once when the manager revokes a cached one', async () => {
    const noExpiry = await startGroupManager({ mode: 'rks', expiresIn: null });
    try {
      const client = new CallbackClient({ allowLoopback: true });
      await client.verify(settingsFor(noExpiry), 'n1');
      await client.verify(settingsFor(noExpiry), 'n2');
      expect(noExpiry.oauthRequests).toHaveLength(2);
    } finally {
      await noExpiry.close();
    }
    const client = new CallbackClient({ allowLoopback: true });
    const before = rks.oauthRequests.length;
    await client.verify(settingsFor(rks), 'n1');
    rks.revokeIssued();
    await client.verify(settingsFor(rks), 'n2');
    expect(rks.oauthRequests.length - before).toBe(2);
  });

  it('fails clearly when the OAuth answer has no access_token, or the OAuth server is down', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const noToken = await failure(client.verify(settingsFor(rks, { oauthUrl: rks.url + '/callback/nodes/x' }), 'n1'));
    expect(noToken).toMatchObject({ status: 502, message: CALLBACK_FAILURES.oauthInvalid });
    const down = await failure(client.verify(settingsFor(rks, { oauthUrl: 'https://127.0.0.1:1/token' }), 'n1'));
    expect(down).toMatchObject({ status: 502, message: CALLBACK_FAILURES.oauthUnreachable });
  });
});

describe('TLS and deadlines', () => {
  it('verifies TLS by default: a self-signed manager fails with a clear error; callback_insecure opts out', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    const err = await failure(client.verify(settingsFor(selfSigned, { callbackCa: '' }), 'n1'));
    expect(err.status).toBe(502);
    expect(err.message).toBe(CALLBACK_FAILURES.oauthUnreachable);
    expect((err.cause as Error).message).toMatch(
      /DEPTH_ZERO_SELF_SIGNED_CERT: cannot verify the server's TLS certificate; set the group's callback_ca, or callback_insecure$/,
    );
    // Another manager's CA is no better than none.
    expect((await failure(client.verify(settingsFor(selfSigned, { callbackCa: rks.caPem }), 'n1'))).message).toBe(CALLBACK_FAILURES.oauthUnreachable);
    expect(selfSigned.callbacks).toHaveLength(0);
    await client.verify(settingsFor(selfSigned, { callbackCa: '', callbackInsecure: true }), 'n1');
    expect(selfSigned.callbacks).toHaveLength(1);
  });

  it('gives up after callback_timeout on a manager that never answers', async () => {
    const client = new CallbackClient({ allowLoopback: true });
    rks.behaviour = () => 'hang';
    try {
      const started = performance.now();
      const err = await failure(client.verify(settingsFor(rks, { callbackTimeout: 0.3 }), 'n1'));
      expect(err).toMatchObject({ status: 504, message: CALLBACK_FAILURES.managerUnreachable });
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      rks.behaviour = () => 'allow';
    }
  });
});

describe('secrecy', () => {
  it('never puts the client secret or an access token in an error message or cause', async () => {
    const settings = settingsFor(rks);
    const errors: KeygateError[] = [];
    const client = new CallbackClient({ allowLoopback: true });
    rks.behaviour = () => 500;
    errors.push(await failure(client.verify(settings, 'n1')));
    rks.behaviour = () => 'allow';
    errors.push(await failure(client.verify({ ...settings, oauthUrl: 'https://127.0.0.1:1/t' }, 'n1')));
    errors.push(await failure(client.verify({ ...settingsFor(selfSigned), callbackCa: '' }, 'n1')));
    errors.push(await failure(client.verify({ ...settings, oauthClientSecret: 'wrong-' + settings.oauthClientSecret }, 'n1')));
    for (const e of errors) {
      const text = `${e.message} ${String((e.cause as Error | undefined)?.message ?? '')} ${e.stack ?? ''}`;
      expect(text).not.toContain(settings.oauthClientSecret);
      for (const t of rks.issued) expect(text).not.toContain(t);
    }
  });
});
