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
    try {
      t.check('1.2.3.4');
    } catch (err) {
      expect((err as TooManyRequestsError).retryAfterSeconds).toBe(30);
      expect((err as TooManyRequestsError).status).toBe(429);
    }
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
