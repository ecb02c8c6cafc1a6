/**
 * The figures docs/security.md reports ("Figures: what the attack tests survive"): each
 * hardening test records what it ran, printed and appended as one JSON line
 * to `$KEYGATE_FIGURES` (default: keygate-hardening-figures.jsonl in the temp folder).
 */
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function recordFigure(name: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ name, ...figures, at: new Date().toISOString() });
  process.stdout.write(`figure: ${line}\n`);
  appendFileSync(process.env['KEYGATE_FIGURES'] ?? join(tmpdir(), 'keygate-hardening-figures.jsonl'), line + '\n');
}
