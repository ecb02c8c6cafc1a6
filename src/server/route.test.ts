import { describe, expect, it } from 'vitest';
import { Router, WrongMethod, type Param, type Route } from './route.js';

const name: Param = { kind: 'name', canonical: (s) => s };
const r = (path: string, extra: Partial<Route> = {}): Route => ({
  method: 'GET',
  path,
  maxBody: 0,
  timeoutMs: 1000,
  auth: 'none',
  handler: () => undefined,
  ...extra,
});

describe('Router', () => {
  const router = new Router([
    r('/version'),
    r('/v1/key/list/', { params: [name] }),
    r('/v1/key/create/', { params: [name] }),
    r('/v1/group/assign/', { params: [name, name] }),
    r('/rks/v1/secret/{fqdn}', { params: [name] }),
    r('/rks/v1/secret/{fqdn}', { method: 'PUT', params: [name] }),
    r('/rks/v1/group/{g}/secrets/{fqdn}', { method: 'POST', params: [name, name] }),
    r('/rks/**'),
    r('/'),
  ]);

  it('matches exact routes, one-name prefixes and the bare list path', () => {
    expect(router.match('GET', '/version')).toMatchObject({ raw: [] });
    expect(router.match('GET', '/v1/key/create/k1')).toMatchObject({ raw: ['k1'] });
    expect(router.match('GET', '/v1/key/list')).toMatchObject({ raw: [''] });
    expect(router.match('GET', '/v1/key/create/a/b')).toBeUndefined();
    expect(router.match('GET', '/v1/key//create/a')).toBeUndefined();
    expect(router.match('GET', '/v1/nope')).toBeUndefined();
    expect(router.match('GET', '/')).toMatchObject({ raw: [] });
    expect(router.match('GET', '/nope')).toBeUndefined();
  });

  it('routes on the raw path: an encoded slash never makes a second segment', () => {
    expect(router.match('GET', '/v1/key/create/a%2Fb')).toMatchObject({ raw: ['a%2Fb'] });
    expect(router.match('GET', '/v1/group/assign/g1%2Fx')).toBeUndefined();
  });

  it('matches two-name prefixes only on routes that declare them', () => {
    expect(router.match('GET', '/v1/group/assign/g1/www.example.com')).toMatchObject({ raw: ['g1', 'www.example.com'] });
    expect(router.match('GET', '/v1/group/assign/g1')).toBeUndefined();
  });

  it('matches templates by method, and says when only another method is served', () => {
    expect(router.match('PUT', '/rks/v1/secret/a.example')).toMatchObject({ route: { method: 'PUT' }, raw: ['a.example'] });
    expect(router.match('POST', '/rks/v1/group/g1/secrets/a.example')).toMatchObject({ raw: ['g1', 'a.example'] });
    expect(router.match('DELETE', '/rks/v1/secret/a.example')).toBeInstanceOf(WrongMethod);
    expect(router.match('GET', '/version')).not.toBeInstanceOf(WrongMethod);
    expect(router.match('PUT', '/version')).toBeInstanceOf(WrongMethod);
  });

  it('hands the rest of a subtree to its route', () => {
    expect(router.match('GET', '/rks/v1/nothing/here')).toMatchObject({ route: { path: '/rks/**' } });
    expect(router.match('GET', '/rks')).toMatchObject({ route: { path: '/rks/**' } });
  });

  it('refuses duplicate routes and prefixes without names', () => {
    expect(() => new Router([r('/a/', { params: [name] }), r('/a/', { params: [name] })])).toThrow(/duplicate route/);
    expect(() => new Router([r('/a/')])).toThrow(/params/);
  });
});
