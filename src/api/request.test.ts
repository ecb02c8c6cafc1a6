/**
 * Issue 11 item 6 (bodies): one JSON body parser for every surface, with a nesting limit of 64
 * enforced by a linear, non-recursive scan, and refusals that say why and where without
 * quoting the body.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, base64Field, jsonObject, parseJSONBody, scanJSON } from './request.js';
import { decodeBody } from './rks/wire.js';
import { BadRequestError, BodyDecodeError } from '../errors.js';

function refusal(fn: () => unknown): BodyDecodeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BodyDecodeError);
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as BodyDecodeError).status).toBe(400);
    return err as BodyDecodeError;
  }
  throw new Error('not refused');
}

const DEPTH = 'invalid request body: nested deeper than 64 levels';

describe('nesting depth', () => {
  it('accepts 64 levels and refuses 65, of arrays, objects and both', () => {
    const arrays = (d: number) => '['.repeat(d) + ']'.repeat(d);
    const objects = (d: number) => '{"a":'.repeat(d) + '1' + '}'.repeat(d);
    const mixed = (d: number) =>
      Array.from({ length: d }, (_, i) => (i % 2 ? '{"k":' : '[')).join('') +
      'null' +
      Array.from({ length: d }, (_, i) => ((d - 1 - i) % 2 ? '}' : ']')).join('');
    // Short bodies are parsed first and walked; long ones scanned first: padded with spaces past 1 KiB, the same answers.
    for (const pad of ['', ' '.repeat(2048)]) {
      for (const make of [arrays, objects, mixed]) {
        expect(() => parseJSONBody(make(MAX_JSON_DEPTH) + pad)).not.toThrow();
        expect(refusal(() => parseJSONBody(make(MAX_JSON_DEPTH + 1) + pad)).message).toBe(DEPTH);
      }
    }
  });

  it('refuses 1 MiB of [[[[… with the depth message', () => {
    expect(refusal(() => jsonObject(Buffer.alloc(1024 * 1024, '['))).message).toBe(DEPTH);
    expect(refusal(() => jsonObject(Buffer.from('{"a":' + '['.repeat(1024 * 1024)))).message).toBe(DEPTH);
  });

  it('does not recurse: a million levels, closed or not, is a refusal and never a RangeError', () => {
    const million = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    expect(scanJSON(million, 1_000_001)).toBeNull(); // the scan itself takes any depth without a call stack
    expect(refusal(() => parseJSONBody(million)).message).toBe(DEPTH);
    expect(scanJSON('{"a":'.repeat(1_000_000), 2_000_000)).toBe('unexpected end of input at position 5000000');
  });

  it('brackets inside strings do not nest, escaped quotes do not end them', () => {
    const deepInString = JSON.stringify({ s: '['.repeat(1000) + '\\"{{{' + '"'.repeat(3) });
    expect(parseJSONBody(deepInString)).toEqual(JSON.parse(deepInString));
    expect(parseJSONBody('["\\\\", "[[[", "\\"]]]\\""]')).toEqual(['\\', '[[[', '"]]]"']);
  });
});

describe('the scan agrees with JSON.parse', () => {
  it('on every JSON value (not too deep): accepted, and parsed to the same value', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'medium' }), (text) => {
        expect(scanJSON(text, MAX_JSON_DEPTH)).toBeNull();
        expect(parseJSONBody(text)).toEqual(JSON.parse(text));
      }),
    );
  });

  it('on arbitrary and mutated text: refuses exactly what JSON.parse refuses', () => {
    const alphabet = fc.constantFrom(...'{}[]",:\\ \t\n-+.0123456789eEtrufalsn\u0001\u00e9u'.split(''));
    const mutated = fc.tuple(fc.json(), fc.nat(), fc.nat(), alphabet).map(([t, at, del, ch]) => {
      const i = at % (t.length + 1);
      return t.slice(0, i) + ch + t.slice(i + (del % 2));
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 30 }), mutated), (text) => {
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        expect(scanJSON(text, 1000) === null, JSON.stringify(text)).toBe(parses);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('short bodies, parsed first', () => {
  /** What the scan-first parser answers: the value, or the refusal's words. */
  const scanFirst = (text: string): unknown => {
    const problem = scanJSON(text, MAX_JSON_DEPTH);
    return problem === null ? { value: JSON.parse(text) as unknown } : { refused: `invalid request body: ${problem}` };
  };
  const answer = (text: string): unknown => {
    try {
      return { value: parseJSONBody(text) };
    } catch (err) {
      expect(err).toBeInstanceOf(BodyDecodeError);
      return { refused: (err as Error).message };
    }
  };

  it('answer every text exactly as the scan would: the same value, or the same refusal in the same words', () => {
    const alphabet = fc.constantFrom(...'{}[]",:\\ \t\n-+.0123456789eEtrufalsn\u0001\u00e9u'.split(''));
    const mutated = fc.tuple(fc.json({ maxDepth: 80 }), fc.nat(), fc.nat(), alphabet).map(([t, at, del, ch]) => {
      const i = at % (t.length + 1);
      return t.slice(0, i) + ch + t.slice(i + (del % 2));
    });
    const deep = fc
      .tuple(fc.integer({ min: 60, max: 70 }), fc.boolean())
      .map(([d, objects]) => (objects ? '{"a":'.repeat(d) + '0' + '}'.repeat(d) : '['.repeat(d) + ']'.repeat(d)));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: alphabet, maxLength: 60 }), mutated, fc.json(), deep), (text) => {
        fc.pre(text.length <= 1024);
        expect(answer(text), JSON.stringify(text)).toEqual(scanFirst(text));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('base64 fields', () => {
  it('take exactly standard padded base64, as the grouped pattern defines it', () => {
    const grouped = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
    const unit = fc.constantFrom('A', 'z', '0', '+', '/', '=', '-', '_', ' ', '\n');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit, maxLength: 14 }),
          fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString('base64')),
        ),
        (text) => {
          let taken: boolean;
          try {
            taken = base64Field({ f: text }, 'f', true).equals(Buffer.from(text, 'base64'));
          } catch (err) {
            expect(err).toBeInstanceOf(BadRequestError);
            taken = false;
          }
          expect(taken, JSON.stringify(text)).toBe(grouped.test(text));
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('messages', () => {
  it('say what and where, never what the body held', () => {
    const cases: Array<[string, string]> = [
      ['{"token_ttl":', 'unexpected end of input at position 13'],
      ['{"a":}', 'unexpected character at position 5'],
      ['{"secret-value" 1}', "expected ':' at position 16"],
      ['{secret: 1}', 'expected a property name at position 1'],
      ['[1 2]', "expected ',' or ']' at position 3"],
      ['{"a":1 "b"}', "expected ',' or '}' at position 7"],
      ['{"a":"x\ny"}', 'invalid string at position 7'],
      ['{"a":"\\q"}', 'invalid string at position 6'],
      ['[01]', "expected ',' or ']' at position 2"],
      ['[1.]', 'invalid number at position 3'],
      ['{} {}', 'unexpected data after the value at position 3'],
      ['\ufeff{}', 'unexpected character at position 0'],
      ['', 'unexpected end of input at position 0'],
    ];
    for (const [body, why] of cases) {
      expect(refusal(() => parseJSONBody(body)).message, body).toBe(`invalid request body: ${why}`);
    }
    expect(refusal(() => jsonObject(Buffer.from('"just a string"'))).message).toBe('invalid request body: expected a JSON object');
    expect(refusal(() => jsonObject(Buffer.from('[]'))).message).toBe('invalid request body: expected a JSON object');
    expect(jsonObject(Buffer.alloc(0))).toEqual({});
  });

  it("the RKS surface parses the same way and keeps RKS's words; the reason is in the cause", () => {
    const shape = { login: 'string', password: 'string' } as const;
    expect(decodeBody(Buffer.from('{"login":"a","password":"b"}'), shape)).toEqual({ login: 'a', password: 'b' });
    for (const body of ['['.repeat(100_000), '{"login":', '{"login":1}', '{"other":"x"}', '']) {
      const err = refusal(() => decodeBody(Buffer.from(body), shape));
      expect(err.message).toBe('failed to decode json request body');
    }
    expect((refusal(() => decodeBody(Buffer.from('['.repeat(100)), shape)).cause as Error).message).toBe(DEPTH);
  });
});
