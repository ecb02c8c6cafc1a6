import { describe, expect, it } from 'vitest';
import { AuthThrottle, TooManyRequestsError } from './throttle.js';

describe('AuthThrottle', () => {
  it('blocks an address after `limit` failures until its window has passed', () => {
    let now = 0;
    const t = new AuthThrottle({ limit: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      t.check('1.2.3.4');
      t.fail('1.2.3.4');
    }
    expect(() => t.check('1.2.3.4')).toThrow(TooManyRequestsError);
    now = 30_000;
    let refused: unknown;
    try {
      t.check('1.2.3.4');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect((refused as TooManyRequestsError).retryAfterSeconds).toBe(30);
    expect((refused as TooManyRequestsError).status).toBe(429);
    expect(() => t.check('5.6.7.8')).not.toThrow();
    now = 60_000;
    expect(() => t.check('1.2.3.4')).not.toThrow();
  });

  it('is off with limit 0 and bounded in memory', () => {
    const off = new AuthThrottle({ limit: 0, windowMs: 1000 });
    for (let i = 0; i < 10; i++) off.fail('a');
    expect(() => off.check('a')).not.toThrow();
    const t = new AuthThrottle({ limit: 1, windowMs: 1000, maxTracked: 10, now: () => 0 });
    for (let i = 0; i < 50; i++) t.fail(`10.0.0.${i}`);
    expect(() => t.check('10.0.0.49')).toThrow(TooManyRequestsError);
    expect(() => t.check('10.0.0.0')).not.toThrow();
  });
});

describe('AuthThrottle with peers (server.workers)', () => {
  it('counts the failures every peer saw, per scope, so an address gets the limit once across workers', () => {
    const subscribers: Array<{ scope: string; record: (a: string) => void; owner: number }> = [];
    const bus = (owner: number) => ({
      publish: (scope: string, address: string) => {
        for (const s of subscribers) if (s.owner !== owner && s.scope === scope) s.record(address);
      },
      subscribe: (scope: string, record: (a: string) => void) => void subscribers.push({ scope, record, owner }),
    });
    const opts = { limit: 4, windowMs: 60_000, now: () => 1000 };
    const a = new AuthThrottle({ ...opts, peers: bus(1), scope: 'http' });
    const b = new AuthThrottle({ ...opts, peers: bus(2), scope: 'http' });
    const otherScope = new AuthThrottle({ ...opts, peers: bus(3), scope: 'rks' });
    a.fail('10.0.0.1');
    b.fail('10.0.0.1');
    a.fail('10.0.0.1');
    expect(() => b.check('10.0.0.1')).not.toThrow();
    b.fail('10.0.0.1');
    expect(() => a.check('10.0.0.1')).toThrow(TooManyRequestsError);
    expect(() => b.check('10.0.0.1')).toThrow(TooManyRequestsError);
    expect(() => otherScope.check('10.0.0.1')).not.toThrow();
    expect(() => a.check('10.0.0.2')).not.toThrow();
  });
});
