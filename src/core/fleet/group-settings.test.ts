/**
 * Issue 11 item 9: a setting that decides where the stored OAuth client secret (or the
 * access token obtained with it) is sent cannot change unless the same update supplies the
 * secret anew.
 */
import { describe, expect, it } from 'vitest';
import { GroupService } from './groups.js';
import { TokenService } from './tokens.js';
import { CountingStore, catalogOf, dump, manualClock } from '../../../test/helpers/fleet.js';
import { checkSecretDestinations, DEFAULT_SETTINGS } from './group-settings.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBdDCCARqgAwIBAgIUW0Zq\n-----END CERTIFICATE-----';

function setup() {
  const store = new CountingStore();
  const tokens = new TokenService(store, { now: manualClock().now });
  return { store, groups: new GroupService(store, tokens, catalogOf()) };
}

const configured = {
  oauthUrl: 'https://manager.example/token',
  callbackUrl: 'https://manager.example/nodes',
  oauthClientId: 'id',
  oauthClientSecret: 'the-stored-secret',
};

describe('changing where the OAuth secret goes', () => {
  it.each([
    ['oauth_url', { oauthUrl: 'https://attacker.example/token' }],
    ['callback_url', { callbackUrl: 'https://attacker.example/nodes' }],
    ['callback_insecure', { callbackInsecure: true }],
    ['callback_ca', { callbackCa: CA }],
  ])('refuses %s without the secret, and writes nothing', async (field, update) => {
    const { groups, store } = setup();
    await groups.create('edge', configured, 'admin');
    const before = await dump(store);
    await expect(groups.update('edge', update)).rejects.toMatchObject({
      status: 400,
      message: `changing ${field} requires oauth_client_secret in the same request: it decides where the group's OAuth secret or access token is sent`,
    });
    expect(await dump(store)).toEqual(before);
  });

  it('refuses the attack of the report: oauth_url plus callback_insecure, other fields resent unchanged', async () => {
    const { groups } = setup();
    await groups.create('edge', configured, 'admin');
    await expect(
      groups.update('edge', { oauthUrl: 'https://attacker.example/t', callbackInsecure: true, callbackUrl: configured.callbackUrl, tokenTtl: 60 }),
    ).rejects.toMatchObject({ status: 400 });
    expect(await groups.describe('edge')).toMatchObject({ oauthUrl: configured.oauthUrl, callbackInsecure: false, tokenTtl: 600 });
  });

  it('allows the change with the secret supplied again (the same or a new one)', async () => {
    const { groups } = setup();
    await groups.create('edge', configured, 'admin');
    await groups.update('edge', { oauthUrl: 'https://new.example/token', oauthClientSecret: configured.oauthClientSecret });
    await groups.update('edge', { callbackUrl: 'https://new.example/nodes', callbackInsecure: true, oauthClientSecret: 'rotated' });
    expect(await groups.describe('edge')).toMatchObject({
      oauthUrl: 'https://new.example/token',
      callbackUrl: 'https://new.example/nodes',
      callbackInsecure: true,
    });
  });

  it('allows what sends the secret nowhere new: unchanged values, turning destinations off, verification back on, other settings', async () => {
    const { groups } = setup();
    await groups.create('edge', { ...configured, callbackInsecure: true, oauthClientSecret: configured.oauthClientSecret }, 'admin');
    await groups.update('edge', { oauthUrl: configured.oauthUrl, callbackUrl: configured.callbackUrl, callbackInsecure: true });
    await groups.update('edge', { callbackInsecure: false, tokenTtl: 60, callbackTimeout: 1, oauthClientId: 'other' });
    await groups.update('edge', { callbackUrl: '' });
    await groups.update('edge', { oauthUrl: '' });
    expect(await groups.describe('edge')).toMatchObject({ oauthUrl: '', callbackUrl: '', callbackInsecure: false, oauthClientSecretSet: true });
  });

  it('guards callback_url only while OAuth is configured; nothing is guarded without a stored secret', () => {
    const withSecret = { ...DEFAULT_SETTINGS, oauthClientSecret: 's' };
    expect(() => checkSecretDestinations(withSecret, { callbackUrl: 'https://x.example/n' })).not.toThrow();
    expect(() => checkSecretDestinations({ ...withSecret, oauthUrl: 'https://o.example/t' }, { callbackUrl: 'https://x.example/n' })).toThrow(
      /^changing callback_url/,
    );
    expect(() => checkSecretDestinations(withSecret, { oauthUrl: 'https://x.example/t' })).toThrow(/^changing oauth_url/);
    expect(() => checkSecretDestinations(DEFAULT_SETTINGS, { oauthUrl: 'https://x.example/t', callbackInsecure: true, callbackCa: CA })).not.toThrow();
  });

  it('a group created with its settings in one request needs nothing more', async () => {
    const { groups } = setup();
    await groups.create('edge', { ...configured, callbackInsecure: true }, 'admin');
    expect(await groups.describe('edge')).toMatchObject({ callbackInsecure: true });
  });
});
