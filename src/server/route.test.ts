import { describe, expect, it } from 'vitest';
import { Router, type Route } from './route.js';

const r = (path: string, extra: Partial<Route> = {}): Route => ({
  method: 'GET', path, maxBody: 0, timeoutMs: 1000, auth: 'none', handler: () => undefined, ...extra,
});

describe('Router', () => {
  const router = new Router([
    r('/version'),
    r('/v1/key/list/'),
    r('/v1/key/create/'),
    r('/v1/group/assign/', { segments: 2 }),
    r('/rks/**'),
    r('/'),
  ]);

  it('matches exact routes, one-segment prefixes and the bare list path', () => {
    expect(router.match('/version')?.resource).toBe('');
    expect(router.match('/v1/key/create/k1')).toMatchObject({ resource: 'k1' });
    expect(router.match('/v1/key/list')).toMatchObject({ resource: '' });
    expect(router.match('/v1/key/create/a/b')).toBeUndefined();
    expect(router.match('/v1/key//create/a')).toBeUndefined();
    expect(router.match('/v1/nope')).toBeUndefined();
    expect(router.match('/')).toMatchObject({ resource: '' });
    expect(router.match('/nope')).toBeUndefined();
  });

  it('matches two-segment resources only on routes that declare them', () => {
    expect(router.match('/v1/group/assign/g1/www.example.com')).toMatchObject({ resource: 'g1/www.example.com' });
    expect(router.match('/v1/group/assign/g1')).toBeUndefined();
  });

  it('hands whole subtrees to their route', () => {
    expect(router.match('/rks/v1/group/g/secrets')).toMatchObject({ resource: 'v1/group/g/secrets' });
    expect(router.match('/rks')).toMatchObject({ resource: '' });
  });

  it('refuses duplicate routes', () => {
    expect(() => new Router([r('/a/'), r('/a/')])).toThrow(/duplicate route/);
  });
});
