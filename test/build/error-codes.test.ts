/**
 * The error catalogue (issue 18): codes are well-formed and each fixed message belongs to one
 * code, coded() makes what an entry says, every code is thrown somewhere in src/, and the
 * table in docs/api.md lists exactly the catalogue.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, errorMessage, type ErrorCode, type ErrorKind } from '../../src/error-codes.js';
import {
  BadRequestError,
  BodyDecodeError,
  ConflictError,
  ExistsError,
  KeygateError,
  NotAcceptableError,
  NotAuthorizedError,
  NotFoundError,
  UnavailableError,
  coded,
} from '../../src/errors.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
const codes = Object.keys(ERROR_CODES) as ErrorCode[];

const CLASSES: Record<ErrorKind, new (...args: never[]) => KeygateError> = {
  BadRequest: BadRequestError,
  BodyDecode: BodyDecodeError,
  NotAuthorized: NotAuthorizedError,
  NotFound: NotFoundError,
  Exists: ExistsError,
  Conflict: ConflictError,
  NotAcceptable: NotAcceptableError,
  Unavailable: UnavailableError,
  Plain: KeygateError,
};

function sourceText(): string {
  return readdirSync(join(repoRoot, 'src'), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && e.name !== 'error-codes.ts')
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
    .join('\n');
}

describe('error catalogue', () => {
  it('names every code in upper snake case, and gives each fixed message one code', () => {
    for (const code of codes) expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
    const fixed = codes.filter((c) => !ERROR_CODES[c].message.includes('%s')).map((c) => `${ERROR_CODES[c].status} ${ERROR_CODES[c].message}`);
    expect(fixed.filter((m, i) => fixed.indexOf(m) !== i)).toEqual([]);
  });

  it('makes the class, status, code and message of each entry', () => {
    for (const code of codes) {
      const args = ['a', 'b'];
      const err = coded(code, args, { cause: new Error('detail') });
      const { status, kind } = ERROR_CODES[code];
      expect(err).toBeInstanceOf(CLASSES[kind]);
      expect({ code: err.code, status: err.status, message: err.message }).toEqual({ code, status, message: errorMessage(code, args) });
      expect(err.message).not.toContain('%s');
    }
    expect(coded('RETRIES_EXHAUSTED', ['group']).message).toBe('group was changed concurrently too often; retry');
  });

  it('throws every code somewhere in src/', () => {
    const text = sourceText();
    expect(codes.filter((code) => !text.includes(`'${code}'`))).toEqual([]);
  });

  it('is documented in docs/api.md, row for row', () => {
    const doc = readFileSync(join(repoRoot, 'docs/api.md'), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Error codes'));
    const rows = [...section.matchAll(/^\| `([A-Z0-9_]+)` \| (\d+) \| `(.*)` \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    expect(rows).toEqual(codes.map((code) => [code, ERROR_CODES[code].status, ERROR_CODES[code].message]));
  });
});
