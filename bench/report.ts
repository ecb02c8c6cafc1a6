/**
 * The bench report: every figure, the targets of issue 6 and whether they are
 * met, the machine and the versions; written as Markdown and JSON to
 * bench/results/<time>.{md,json}, plus latest.md and latest.json (the latter in
 * exactly the `{scenarios, targets}` shape the issue asks for).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from './loadgen.js';
import { NGINX } from './servers.js';

export interface Figure {
  /** The scenario's name in latest.json. */
  key: string;
  title: string;
  unit: string;
  keygate: number | null;
  node: number | null;
  nginx: number | null;
  higherIsBetter: boolean;
  /**
   * Set when the sides were measured in rounds (scenarios a and c): each ratio per round (the
   * same round's two sides) and their median. The median of per-round ratios cancels the
   * machine's drift between rounds, which the ratio of the median rates does not; the figures
   * table and the targets use it.
   */
  ratios?: Partial<Record<RatioName, RoundRatio>>;
  /** Set when keygate's value is itself the median of one value per round (scenario e's ratios): every round's. */
  keygateRounds?: Array<number | null>;
}

export type RatioName = 'keygate/node' | 'keygate/nginx' | 'node/nginx';

export interface RoundRatio {
  median: number | null;
  /** One per round, in round order (null where a side measured nothing). */
  rounds: Array<number | null>;
}

/** One run of the load generator (or one set-up measurement) behind the figures. */
export interface Measurement {
  label: string;
  load?: LoadResult;
  values?: Record<string, number | string | null>;
}

export interface ScenarioReport {
  id: string;
  title: string;
  seconds: number;
  figures: Figure[];
  measurements: Measurement[];
  notes: string[];
  error?: string;
}

export interface Target {
  key: string;
  title: string;
  value: number | null;
  goal: number;
  /** true: value ≥ goal is met; false: value ≤ goal is met. */
  atLeast: boolean;
  met: boolean;
  /** A baseline put through a target's measure: shown, never met or missed. */
  informative?: boolean;
  /** When `value` is the median of per-round ratios: the ratio of every round. */
  rounds?: Array<number | null>;
}

export interface Environment {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; kernel: string };
  versions: { node: string; openssl: string; nginx: string; keygate: string };
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

export function environment(repo: string): Environment {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain'], { cwd: repo, encoding: 'utf8' }).trim() !== '') commit += '+uncommitted changes';
  } catch {
    // not a git checkout
  }
  return {
    date: new Date().toISOString(),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      kernel: `${os.type()} ${os.release()}`,
    },
    versions: {
      node: process.version,
      openssl: `${run('openssl', ['version'])} (node's: ${process.versions.openssl})`,
      nginx: run(NGINX, ['-v']).replace(/^nginx version:\s*/, '') || 'not installed',
      keygate: `${pkg.version} (${commit})`,
    },
  };
}

const fmt = (v: number | null | undefined, digits = 0): string => {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 100 || digits === 0) return v.toLocaleString('en-US', { maximumFractionDigits: digits });
  return v.toFixed(digits);
};
/** a / b; null when either is unknown or b is not positive (every figure divided here is a rate or a time). */
export function div(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b <= 0 ? null : a / b;
}
/** A ratio column of the figures table: the median of the per-round ratios (marked †) when the figure has them. */
const ratioCell = (f: Figure, name: RatioName, a: number | null, b: number | null): string => {
  const r = f.ratios?.[name];
  return r ? `${fmt(r.median, 2)} †` : fmt(div(a, b), 2);
};

/** "0.70–0.75 over 3 rounds: 0.70, 0.72, 0.75" */
export function spread(rounds: Array<number | null>): string {
  const known = rounds.filter((v): v is number => v !== null && Number.isFinite(v));
  if (known.length === 0) return 'no round measured';
  const range = `${fmt(Math.min(...known), 2)}–${fmt(Math.max(...known), 2)}`;
  return `${range} over ${rounds.length} round(s): ${rounds.map((v) => fmt(v, 2)).join(', ')}`;
}
const digitsFor = (unit: string): number => (unit === 'req/s' || unit === 'conn/s' ? 0 : 2);

function figuresTable(scenarios: ScenarioReport[]): string[] {
  const lines = [
    '| scenario | unit | keygate | node:https | nginx | keygate/node | keygate/nginx | node/nginx |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const s of scenarios) {
    for (const f of s.figures) {
      const d = digitsFor(f.unit);
      lines.push(
        `| ${f.key} — ${f.title} | ${f.unit} | ${fmt(f.keygate, d)} | ${fmt(f.node, d)} | ${fmt(f.nginx, d)} | ` +
          `${ratioCell(f, 'keygate/node', f.keygate, f.node)} | ${ratioCell(f, 'keygate/nginx', f.keygate, f.nginx)} | ${ratioCell(f, 'node/nginx', f.node, f.nginx)} |`,
      );
    }
  }
  if (scenarios.some((s) => s.figures.some((f) => f.ratios)))
    lines.push(
      '',
      '† measured in rounds (the order of the sides alternating): the rates are medians over the rounds, the ratio is the median of the ' +
        "per-round ratios (each round's two sides against each other), not the ratio of the medians. Every round is in the measurements below.",
    );
  return lines;
}

function targetsTable(targets: Target[]): string[] {
  const lines = ['| target | value | goal | met |', '| --- | ---: | ---: | :---: |'];
  for (const t of targets) {
    const met = t.informative ? `informative (${t.met ? 'would be met' : 'would not be met'})` : t.met ? 'yes' : '**no**';
    const value = t.rounds ? `${fmt(t.value, 2)} (median; ${spread(t.rounds)})` : fmt(t.value, 2);
    lines.push(`| ${t.title} | ${value} | ${t.atLeast ? '≥' : '≤'} ${t.goal} | ${met} |`);
  }
  return lines;
}

function measurementsTable(scenarios: ScenarioReport[]): string[] {
  const lines = [
    "| measurement | rate /s | p50 ms | p99 ms | p99.9 ms | errors | generator CPU | server CPU | other processes' CPU | notes |",
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const s of scenarios) {
    for (const m of s.measurements) {
      const l = m.load;
      const other = [
        ...(l?.resumedShare !== null && l?.resumedShare !== undefined ? [`resumed ${(l.resumedShare * 100).toFixed(1)} %`] : []),
        ...(l && l.reconnects > 0 ? [`reconnects ${l.reconnects}`] : []),
        ...(l && l.queued > 0 ? [`queued ${l.queued}`] : []),
        ...(l && (l.attempts ?? 1) > 1 ? [`attempts ${l.attempts}`] : []),
        ...(l && l.generatorCores > 0.8 ? ['generator over 0.8 cores: a bound on the generator?'] : []),
        ...(l && l.generatorStallMs >= 5 ? [`generator stalled up to ${l.generatorStallMs.toFixed(0)} ms`] : []),
        ...Object.entries(m.values ?? {}).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v, 2) : v}`),
      ].join(', ');
      const errors = l ? l.errors + l.mismatches : null;
      lines.push(
        `| ${m.label} | ${fmt(l?.perSecond)} | ${fmt(l?.p50Ms, 2)} | ${fmt(l?.p99Ms, 2)} | ${fmt(l?.p999Ms, 2)} | ${fmt(errors)} | ${fmt(l?.generatorCores, 2)} | ${fmt(l?.serverCores, 2)} | ${fmt(l?.otherCores, 2)} | ${other} |`,
      );
    }
  }
  return lines;
}

export function markdown(env: Environment, scenarios: ScenarioReport[], targets: Target[], setup: string[]): string {
  const out = [
    `# keygate benchmark — ${env.date}`,
    '',
    `Machine: ${env.machine.cpu}, ${env.machine.cores} cores, ${env.machine.memoryGiB} GiB memory, ${env.machine.kernel}.`,
    `Versions: node ${env.versions.node}; ${env.versions.openssl}; nginx ${env.versions.nginx}; keygate ${env.versions.keygate}.`,
    '',
    ...setup.map((s) => `- ${s}`),
    '',
    '## Targets',
    '',
    ...targetsTable(targets),
    '',
    '## Figures',
    '',
    ...figuresTable(scenarios),
    '',
    '## Measurements',
    '',
    ...measurementsTable(scenarios),
    '',
    '## Scenarios',
    '',
  ];
  const tail = [
    '## For docs/performance.md',
    '',
    'The rows of its figures table (between `<!-- bench-figures -->` and `<!-- /bench-figures -->`), from this run:',
    '',
    ...docTable(env, targets),
    '',
  ];
  for (const s of scenarios) {
    out.push(`### ${s.id}: ${s.title} (${s.seconds.toFixed(0)} s)`, '');
    if (s.error) out.push(`**Failed:** ${s.error}`, '');
    for (const n of s.notes) out.push(`- ${n}`);
    const samples = s.measurements.flatMap((m) => (m.load?.errorSamples ?? []).map((e) => `${m.label}: ${e}`));
    for (const e of samples.slice(0, 10)) out.push(`- error sample — ${e}`);
    out.push('');
  }
  return [...out, ...tail].join('\n');
}

/** The targets in docs/performance.md's format: what, measured, goal, met, and the commit it was measured on (bench/stale.ts). */
function docTable(env: Environment, targets: Target[]): string[] {
  const commit = env.versions.keygate.replace(/^.*\((.*)\)$/, '$1');
  const lines = ['| target | measured | goal | met | commit |', '| --- | ---: | ---: | :---: | --- |'];
  for (const t of targets) {
    if (t.value === null) continue;
    const met = t.informative ? 'informative' : t.met ? 'met' : 'not met';
    lines.push(`| ${t.title} | ${fmt(t.value, 2)} | ${t.atLeast ? '≥' : '≤'} ${t.goal} | ${met} | ${commit} |`);
  }
  return lines;
}

/** The exact shape: scenario figures per server with their unit, and the targets. */
export function latestJSON(scenarios: ScenarioReport[], targets: Target[]): unknown {
  const figures: Record<string, { keygate: number | null; node: number | null; nginx: number | null; unit: string }> = {};
  for (const s of scenarios) for (const f of s.figures) figures[f.key] = { keygate: f.keygate, node: f.node, nginx: f.nginx, unit: f.unit };
  return {
    scenarios: figures,
    targets: Object.fromEntries(targets.map((t) => [t.key, { value: t.value, goal: t.goal, met: t.met, ...(t.informative ? { informative: true } : {}) }])),
  };
}

export function writeReports(dir: string, env: Environment, scenarios: ScenarioReport[], targets: Target[], setup: string[]): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = env.date.replace(/[:.]/g, '-');
  const md = markdown(env, scenarios, targets, setup);
  // Histogram buckets are for merging rounds, not for reading: thousands of lines each.
  const full = JSON.stringify({ ...env, setup, targets, scenarios }, (k, v: unknown) => (k === 'histogram' ? undefined : v), 2) + '\n';
  const files: Array<[string, string]> = [
    [`${stamp}.md`, md],
    [`${stamp}.json`, full],
    ['latest.md', md],
    ['latest.json', JSON.stringify(latestJSON(scenarios, targets), null, 2) + '\n'],
  ];
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}
