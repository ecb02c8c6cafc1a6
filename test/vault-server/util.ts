/** Go-compatible parsing and formatting helpers shared by the engines. */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { RawNumber } from './json.js';

/** Vault's system default and maximum lease TTL: 768h. */
export const SYSTEM_TTL = 2_764_800;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function base62(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += BASE62[randomInt(62)];
  return s;
}

export function uuid(): string {
  return randomUUID();
}

export function base64url(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** RFC3339Nano in UTC with trailing fractional zeros trimmed, as Go prints time.Time. */
export function rfc3339(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/** strconv.ParseBool. */
export function parseGoBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v !== 'string') return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Lenient bool for request fields (mapstructure weak decoding). */
export function fieldBool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number') return v !== 0;
  if (v instanceof RawNumber) return Number(v.literal) !== 0;
  const b = parseGoBool(v);
  if (b === undefined) throw new FieldError(`cannot parse '' as bool: strconv.ParseBool: parsing ${JSON.stringify(String(v))}: invalid syntax`);
  return b;
}

export function fieldInt(v: unknown, dflt: number): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : Number(v instanceof RawNumber ? v.literal : v);
  if (!Number.isInteger(n)) throw new FieldError(`cannot parse '' as int: strconv.ParseInt: parsing ${JSON.stringify(String(v))}: invalid syntax`);
  return n;
}

/** A comma-separated string or an array, as Vault's TypeCommaStringSlice accepts. */
export function fieldStrings(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter((x) => x !== '');
  return String(v)
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

export function fieldString(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : String(v);
}

export class FieldError extends Error {}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86400e9,
};

/** parseutil.ParseDurationSecond: integers are seconds, strings may be Go durations (plus `d`). Returns seconds. */
export function parseDuration(v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v === 'number') return Math.trunc(v);
  if (v instanceof RawNumber) return Math.trunc(Number(v.literal));
  const s = String(v).trim();
  if (/^-?\d+$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;
  let i = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  let total = 0;
  if (i >= s.length) throw new FieldError(`time: invalid duration ${JSON.stringify(s)}`);
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m || m[1] === undefined || m[2] === undefined) throw new FieldError(`time: invalid duration ${JSON.stringify(s)}`);
    total += Number(m[1]) * (UNIT_NS[m[2]] ?? 0);
    i = re.lastIndex;
  }
  return Math.trunc((sign * total) / 1e9);
}

/** time.Duration.String() for a number of seconds. */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const neg = seconds < 0;
  let ns = Math.round(Math.abs(seconds) * 1e9);
  let out: string;
  if (ns < 1e9) {
    const [unit, div] = ns < 1e3 ? ['ns', 1] : ns < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = trimFrac(ns / (div as number)) + unit;
  } else {
    const h = Math.floor(ns / 3600e9);
    ns -= h * 3600e9;
    const m = Math.floor(ns / 60e9);
    ns -= m * 60e9;
    const s = trimFrac(ns / 1e9) + 's';
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? '-' + out : out;
}

function trimFrac(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** Policy names as Vault sanitises them: trimmed, lower-cased, deduped, sorted; `root` alone wins. */
export function sanitizePolicies(policies: readonly string[], addDefault: boolean): string[] {
  const set = new Set<string>();
  for (const p of policies) {
    const t = p.trim().toLowerCase();
    if (t !== '') set.add(t);
  }
  if (set.has('root')) return ['root'];
  if (addDefault) set.add('default');
  return [...set].sort();
}
