/**
 * The fs keystore killed with SIGKILL at random moments, again and again: a child
 * process (fs-writer.ts) creates, replaces and deletes self-checking entries from
 * four concurrent loops and prints a line after every acknowledged write. After
 * each kill, every acknowledged write must be there and intact (or superseded by a
 * later write to the same name), every acknowledged delete must hold, nothing
 * half-written may be visible under any name, and the next start must remove the
 * temporary and lock files the killed process left.
 *
 * Temporary files are removed only when older than 30 s (a fresh one may belong
 * to a live sibling worker), so the test backdates them, as the time between a
 * crash and the next start would. Lock files name their holder's pid: a dead
 * holder's lock goes at once (the next child would otherwise fail its updates).
 */
import { afterAll, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FSKeyStore } from '../../keystores/fs.js';
import { recordFigure } from './figures.js';
import { spawnTracked } from '../helpers/processes.js';

const KILLS = 22;
const repo = fileURLToPath(new URL('../../', import.meta.url));
const figures = { kills: 0, acknowledged: 0, verifiedEntries: 0, tempFilesRemoved: 0, lockFilesRemoved: 0 };
afterAll(() => recordFigure('fs-crash', figures));

/** Runs the writer until a random moment after it is ready, kills it, and returns its complete output lines. */
async function runAndKill(root: string, run: number, afterMs: number): Promise<string[]> {
  // Its own process group: the kill reaches tsx's helper process too (test/helpers/processes.ts).
  const child = spawnTracked(process.execPath, ['--import', 'tsx', 'test/hardening/fs-writer.ts', root, String(run)], { cwd: repo });
  try {
    await child.waitFor(/^ready\n/, 'stdout');
  } catch (err) {
    throw new Error(`writer exited by itself (${child.child.exitCode}): ${child.stderr()}`, { cause: err });
  }
  // The random moment of the kill is the point of the test, not a wait for something.
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  await child.killGroup('SIGKILL');
  // Every line written before the kill counts as acknowledged: read the pipe to its end.
  const stdout = child.child.stdout;
  if (stdout && !stdout.closed) await new Promise((resolve) => stdout.once('close', resolve));
  const out = child.stdout();
  // A line cut by the kill was never acknowledged.
  return out.split('\n').slice(1, -1);
}

/**
 * Makes the temporary files a minute old, as they would be by the time a crashed server
 * is started again (a fresh one may be a live sibling's). Lock files are left as they are:
 * they name their holder, so the next start removes them at once. Returns the leftovers.
 */
async function backdate(root: string): Promise<{ temps: number; locks: number }> {
  const old = new Date(Date.now() - 60_000);
  const names = await fsp.readdir(root);
  const temps = names.filter((n) => n.startsWith('.tmp-'));
  for (const name of temps) await fsp.utimes(join(root, name), old, old);
  return { temps: temps.length, locks: names.filter((n) => n.startsWith('.lock-')).length };
}

function intact(name: string, value: Buffer): number {
  const body = value.subarray(0, value.length - 32);
  expect(
    createHash('sha256')
      .update(body)
      .digest()
      .equals(value.subarray(value.length - 32)),
    `${name} is torn`,
  ).toBe(true);
  const [owner, seq] = body.toString('latin1').split('|');
  expect(owner, `${name} holds another entry's value`).toBe(name);
  return Number(seq);
}

it(`loses no acknowledged write and shows no torn value across ${KILLS} SIGKILLs under load`, async () => {
  const root = join(await fsp.mkdtemp(join(tmpdir(), 'keygate-crash-')), 'store');
  await (await FSKeyStore.open(root)).close();
  /** name → last acknowledged sequence number; deleted names. */
  const acked = new Map<string, number>();
  const deleted = new Set<string>();
  /** Names whose delete began (it may have completed without its ack). */
  const mayBeGone = new Set<string>();
  for (let run = 0; run < KILLS; run++) {
    const lines = await runAndKill(root, run, Math.floor(Math.random() * 200));
    for (const line of lines) {
      const [kind, op, name, seq] = line.split(' ') as [string, string, string, string];
      if (kind === 'intent') {
        mayBeGone.add(name);
        continue;
      }
      if (op === 'delete') deleted.add(name);
      else acked.set(name, Math.max(acked.get(name) ?? 0, Number(seq)));
      figures.acknowledged++;
    }
    figures.kills++;

    const leftovers = await backdate(root);
    figures.tempFilesRemoved += leftovers.temps;
    figures.lockFilesRemoved += leftovers.locks;
    const store = await FSKeyStore.open(root);
    await store.swept; // the start-up sweep runs in the background
    expect(
      (await fsp.readdir(root)).filter((n) => n.startsWith('.')),
      'leftovers after the next start',
    ).toEqual([]);
    const names = new Set((await store.list('', '', 1000)).names);
    for (const name of names) {
      const seq = intact(name, (await store.get(name)).value);
      if (acked.has(name)) expect(seq, `${name} went back`).toBeGreaterThanOrEqual(acked.get(name) as number);
      figures.verifiedEntries++;
    }
    for (const name of acked.keys()) if (!mayBeGone.has(name)) expect(names.has(name), `acknowledged ${name} is missing`).toBe(true);
    for (const name of deleted) expect(names.has(name), `deleted ${name} came back`).toBe(false);
    await store.close();
  }
  expect(figures.acknowledged).toBeGreaterThan(KILLS * 5);
  await fsp.rm(join(root, '..'), { recursive: true, force: true });
}, 120_000);
