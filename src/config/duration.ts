/**
 * Go-style durations ("300ms", "1.5h", "2h45m", "720h"), the form KES configs use.
 * Returns milliseconds; throws on anything else so a typo never becomes 0.
 */
const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

export function parseDuration(text: string): number {
  if (text === '0') return 0;
  let total = 0;
  let pos = 0;
  PART.lastIndex = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) throw new Error(`invalid duration '${text}' (expected e.g. 30s, 5m, 1h30m)`);
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    pos = PART.lastIndex;
  }
  if (text.length === 0) throw new Error("invalid duration '' (expected e.g. 30s, 5m, 1h30m)");
  return Math.round(total);
}
