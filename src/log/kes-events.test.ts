import { describe, expect, it } from 'vitest';
import { kesAuditEvent, kesErrorEvent } from './kes-events.js';
import { kesFamilies } from '../server/metrics.js';

describe("KES's stream shapes", () => {
  it('nests the audit event as KES does, the response time in whole milliseconds', () => {
    const line = kesAuditEvent(
      { ip: '127.0.0.1', identity: 'ab12', method: 'GET', path: '/v1/key/list/a"b', status: 403, latencyMs: 2.6 },
      '2026-12-07T10:00:00.000Z',
    );
    expect(JSON.parse(line)).toEqual({
      time: '2026-12-07T10:00:00.000Z',
      request: { ip: '127.0.0.1', path: '/v1/key/list/a"b', identity: 'ab12' },
      response: { code: 403, time: 3 },
    });
  });

  it('writes error events as one slog text line, quoting what slog quotes', () => {
    const line = kesErrorEvent('2026-12-07T10:00:00.000Z', 'error', 'keystore: read failed', { status: 502, path: '/v1/key/describe/k', empty: '', eq: 'a=b' });
    expect(JSON.parse(line)).toEqual({
      message: 'time=2026-12-07T10:00:00.000Z level=ERROR msg="keystore: read failed" status=502 path=/v1/key/describe/k empty="" eq="a=b"',
    });
    expect(JSON.parse(kesErrorEvent('t', 'info', 'ok'))).toEqual({ message: 'time=t level=INFO msg=ok' });
    // A control character never reaches the line raw.
    expect(JSON.parse(kesErrorEvent('t', 'warn', 'a\nb')).message).toBe('time=t level=WARN msg="a\\nb"');
  });

  it("keeps only KES's metric families, each whole", () => {
    const text = [
      '# HELP kes_a a',
      '# TYPE kes_a counter',
      'kes_a{code="200"} 1',
      '',
      '# HELP keygate_b b',
      '# TYPE keygate_b gauge',
      'keygate_b{kind="x"} 1',
      'keygate_b{kind="y"} 2',
      '',
      '# HELP kes_c c',
      '# TYPE kes_c histogram',
      'kes_c_bucket{le="+Inf"} 1',
      'kes_c_sum 0.1',
      'kes_c_count 1',
      '',
    ].join('\n');
    expect(kesFamilies(text)).toBe(
      [
        '# HELP kes_a a',
        '# TYPE kes_a counter',
        'kes_a{code="200"} 1',
        '# HELP kes_c c',
        '# TYPE kes_c histogram',
        'kes_c_bucket{le="+Inf"} 1',
        'kes_c_sum 0.1',
        'kes_c_count 1',
        '',
      ].join('\n'),
    );
  });
});
