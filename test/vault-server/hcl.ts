/**
 * The subset of HCL (v1) that Vault policies use: blocks with string labels,
 * `key = value` assignments, strings, numbers, bools, lists, nested objects,
 * heredocs and the three comment styles. JSON policy text is handled by the caller.
 */

export interface HclObject {
  kind: 'object';
  items: HclItem[];
}
export type HclValue = string | number | boolean | HclValue[] | HclObject;
export interface HclItem {
  key: string;
  labels: string[];
  value: HclValue;
  line: number;
}

export class HclError extends Error {}

type Tok =
  | { t: 'ident' | 'string'; v: string; line: number; col: number }
  | { t: 'number'; v: number; line: number; col: number }
  | { t: 'punct'; v: string; line: number; col: number }
  | { t: 'eof'; line: number; col: number };

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const err = (msg: string): never => {
    throw new HclError(`At ${line}:${i - lineStart + 1}: ${msg}`);
  };
  while (i < src.length) {
    const c = src[i] as string;
    const col = i - lineStart + 1;
    if (c === '\n') {
      line++;
      i++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) err('comment not terminated');
      for (let j = i; j < end; j++) if (src[j] === '\n') line++;
      i = end + 2;
      continue;
    }
    if ('{}[]=,:'.includes(c)) {
      toks.push({ t: 'punct', v: c, line, col });
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let out = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\n') err('literal not terminated');
        if (src[j] === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
          if (e !== undefined && map[e] !== undefined) {
            out += map[e];
            j += 2;
            continue;
          }
          if (e === 'u') {
            out += String.fromCharCode(parseInt(src.slice(j + 2, j + 6), 16));
            j += 6;
            continue;
          }
          err('unknown escape sequence');
        }
        out += src[j];
        j++;
      }
      if (j >= src.length) err('literal not terminated');
      toks.push({ t: 'string', v: out, line, col });
      i = j + 1;
      continue;
    }
    if (c === '<' && src[i + 1] === '<') {
      const m = /^<<-?([A-Za-z_][A-Za-z0-9_]*)\r?\n/.exec(src.slice(i));
      if (!m || m[1] === undefined) return err('invalid heredoc');
      const marker = m[1];
      const bodyStart = i + m[0].length;
      const lines = src.slice(bodyStart).split('\n');
      const endIdx = lines.findIndex((l) => l.trim() === marker);
      if (endIdx < 0) err('heredoc not terminated');
      const body = lines.slice(0, endIdx).join('\n') + '\n';
      toks.push({ t: 'string', v: body, line, col });
      line += endIdx + 1;
      i = bodyStart + lines.slice(0, endIdx + 1).join('\n').length;
      lineStart = i;
      continue;
    }
    const num = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      toks.push({ t: 'number', v: Number(num[0]), line, col });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_\-.]*/.exec(src.slice(i));
    if (id) {
      toks.push({ t: 'ident', v: id[0], line, col });
      i += id[0].length;
      continue;
    }
    err(`illegal char`);
  }
  toks.push({ t: 'eof', line, col: i - lineStart + 1 });
  return toks;
}

export function parseHcl(src: string): HclObject {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Tok => toks[p] as Tok;
  const next = (): Tok => toks[p++] as Tok;
  const err = (tok: Tok, msg: string): never => {
    throw new HclError(`At ${tok.line}:${tok.col}: ${msg}`);
  };
  const isPunct = (tok: Tok, v: string): boolean => tok.t === 'punct' && tok.v === v;

  const value = (): HclValue => {
    const tok = next();
    if (tok.t === 'string') return tok.v;
    if (tok.t === 'number') return tok.v;
    if (tok.t === 'ident' && (tok.v === 'true' || tok.v === 'false')) return tok.v === 'true';
    if (isPunct(tok, '[')) {
      const out: HclValue[] = [];
      while (!isPunct(peek(), ']')) {
        out.push(value());
        if (isPunct(peek(), ',')) next();
        else if (!isPunct(peek(), ']')) err(peek(), `expected: COMMA | RBRACK got: ${describe(peek())}`);
      }
      next();
      return out;
    }
    if (isPunct(tok, '{')) return body('}');
    return err(tok, `Unknown token: ${describe(tok)}`);
  };

  const body = (end: '}' | 'eof'): HclObject => {
    const items: HclItem[] = [];
    for (;;) {
      const tok = peek();
      if (end === '}' && isPunct(tok, '}')) {
        next();
        return { kind: 'object', items };
      }
      if (tok.t === 'eof') {
        if (end === 'eof') return { kind: 'object', items };
        err(tok, 'object expected closing RBRACE got: EOF');
      }
      if (tok.t !== 'ident' && tok.t !== 'string') err(tok, `expected: IDENT | STRING got: ${describe(tok)}`);
      next();
      const labels: string[] = [];
      while (peek().t === 'string' || peek().t === 'ident') labels.push(String((next() as { v: string }).v));
      let v: HclValue;
      if (isPunct(peek(), '=') || isPunct(peek(), ':')) {
        next();
        v = value();
      } else if (isPunct(peek(), '{')) {
        next();
        v = body('}');
      } else {
        v = err(peek(), `expected: IDENT | STRING | ASSIGN | LBRACE got: ${describe(peek())}`);
      }
      items.push({ key: String((tok as { v: string }).v), labels, value: v, line: tok.line });
      if (isPunct(peek(), ',')) next();
    }
  };
  return body('eof');
}

function describe(tok: Tok): string {
  if (tok.t === 'eof') return 'EOF';
  if (tok.t === 'punct') return { '{': 'LBRACE', '}': 'RBRACE', '[': 'LBRACK', ']': 'RBRACK', '=': 'ASSIGN', ',': 'COMMA', ':': 'COLON' }[tok.v] ?? tok.v;
  return tok.t.toUpperCase();
}
