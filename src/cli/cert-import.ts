/**
 * Importing bundles from the CLI: one pair of files, or every pair of a
 * directory (`x.crt` or `x.pem` with `x.key`, named `x`) with a progress bar on
 * a terminal, plain lines otherwise, and a summary of what failed and why.
 *
 * A directory of certificates often holds the CA that signed them, key and all
 * (`make run`'s certs/ does): a pair whose certificate is a CA is skipped and
 * named, never sent, since the server would hand its key to every node.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ServerError, type Client } from './client.js';
import { readFileOr } from '../files/read.js';

export interface ImportSettings {
  ttl: number;
  /** undefined: none on create, keep the current ones on replace. */
  labels: Record<string, string> | undefined;
  /** Replace an existing bundle (at the version just read), create it otherwise. */
  replace: boolean;
  allowExpired: boolean;
  /** Import CA certificates as bundles too (the server refuses them otherwise); directory imports skip them without it. */
  allowCaLeaf?: boolean;
}

/** Imports one bundle; returns its version (null if the server could not tell). */
export async function importOne(client: Client, name: string, chainPem: string, keyPem: string, s: ImportSettings): Promise<string | null> {
  const body: Record<string, unknown> = { certificate: chainPem, private_key: keyPem, ttl: s.ttl };
  if (s.labels) body['labels'] = s.labels;
  if (s.allowExpired) body['allow_expired'] = true;
  if (s.allowCaLeaf) body['allow_ca_leaf'] = true;
  const path = `/v1/cert/import/${encodeURIComponent(name)}`;
  if (s.replace) {
    const current = await client.call('GET', `/v1/cert/describe/${encodeURIComponent(name)}`).catch((err: unknown) => {
      if (err instanceof ServerError && err.is('BUNDLE_NOT_FOUND')) return null;
      throw err;
    });
    if (current) body['version'] = (current as { version: string }).version;
  }
  const r = (await client.call('PUT', path, body)) as { version?: string } | null;
  return r?.version ?? null;
}

export interface Pair {
  name: string;
  cert?: string;
  key?: string;
  /** Why the files cannot be imported as a pair. */
  problem?: string;
}

/** Pairs the PEM files of `dir` by base name, sorted by name. */
export function pairFiles(dir: string): Pair[] {
  const pairs = new Map<string, Pair>();
  const pair = (name: string): Pair => pairs.get(name) ?? (pairs.set(name, { name }).get(name) as Pair);
  for (const file of readdirSync(dir, { withFileTypes: true })) {
    if (!file.isFile()) continue;
    const m = /^(.+)\.(crt|pem|key)$/.exec(file.name);
    if (!m) continue;
    const p = pair(m[1] as string);
    if (m[2] === 'key') p.key = join(dir, file.name);
    else if (p.cert !== undefined) p.problem = `both ${p.name}.crt and ${p.name}.pem exist`;
    else p.cert = join(dir, file.name);
  }
  for (const p of pairs.values()) {
    if (p.problem) continue;
    if (p.cert === undefined) p.problem = `no certificate (${p.name}.crt or ${p.name}.pem) for ${p.name}.key`;
    else if (p.key === undefined) p.problem = `no private key ${p.name}.key`;
  }
  return [...pairs.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Renders `[#####.....]  5/10 name` in `width` columns. */
export function progressLine(done: number, total: number, label: string, width: number): string {
  const counter = ` ${String(done).padStart(String(total).length)}/${total} `;
  const barWidth = Math.max(10, Math.min(40, width - counter.length - 20));
  const filled = total === 0 ? barWidth : Math.round((done / total) * barWidth);
  const line = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${counter}${label}`;
  return line.length > width - 1 ? line.slice(0, Math.max(0, width - 2)) + '…' : line;
}

/**
 * Imports every pair of `dir` in turn. Progress goes to stderr, the summary to
 * stdout (JSON with `json`). @throws Error when any pair failed (exit code 1).
 */
export async function importDirectory(client: Client, dir: string, s: ImportSettings, json: boolean): Promise<void> {
  const found = pairFiles(dir);
  if (found.length === 0) throw new Error(`no PEM pairs (NAME.crt or NAME.pem with NAME.key) in '${dir}'`);
  const skipped: Array<{ name: string; file: string; reason: string }> = [];
  const pairs = found.filter((p) => {
    if (s.allowCaLeaf || p.problem || !isCACertificateFile(p.cert as string)) return true;
    skipped.push({ name: p.name, file: basename(p.cert as string), reason: 'a CA certificate (basicConstraints CA:TRUE), not a bundle' });
    return false;
  });
  if (!json) for (const k of skipped) process.stderr.write(`skipped  ${k.name}: ${k.file} is ${k.reason}\n`);
  const tty = process.stderr.isTTY === true && !json;
  const imported: Array<{ name: string; version: string | null }> = [];
  const failed: Array<{ name: string; error: string }> = [];
  for (const [i, p] of pairs.entries()) {
    if (tty) process.stderr.write(`\r\x1b[2K${progressLine(i, pairs.length, p.name, process.stderr.columns || 80)}`);
    try {
      if (p.problem) throw new Error(p.problem);
      const version = await importOne(client, p.name, read(p.cert as string), read(p.key as string), s);
      imported.push({ name: p.name, version });
      if (!tty && !json) process.stderr.write(`imported ${p.name}\n`);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      failed.push({ name: p.name, error });
      if (!tty && !json) process.stderr.write(`failed   ${p.name}: ${error}\n`);
    }
  }
  if (tty) process.stderr.write(`\r\x1b[2K${progressLine(pairs.length, pairs.length, 'done', process.stderr.columns || 80)}\n`);
  if (json) process.stdout.write(JSON.stringify({ imported, failed, skipped }) + '\n');
  else {
    process.stdout.write(`imported ${imported.length} of ${pairs.length} bundles${failed.length ? `; ${failed.length} failed:` : ''}\n`);
    for (const f of failed) process.stdout.write(`  ${f.name}: ${f.error}\n`);
    if (skipped.length) {
      process.stdout.write(`skipped ${skipped.length} CA certificate${skipped.length === 1 ? '' : 's'} (import with --allow-ca-leaf if meant as bundles):\n`);
      for (const k of skipped) process.stdout.write(`  ${k.name}: ${k.file}\n`);
    }
  }
  if (failed.length) throw new Error(`${failed.length} of ${pairs.length} bundles failed to import`);
}

/**
 * Whether the first certificate of a PEM file is a CA certificate. Anything unreadable is
 * "no": the import then fails on the server with the reason, as for any other bad file.
 */
export function isCACertificateFile(path: string): boolean {
  try {
    return new X509Certificate(readFileSync(path)).ca;
  } catch {
    return false;
  }
}

/** Reads a PEM file, naming the file (not the errno text) when that fails. */
export function read(path: string): string {
  return readFileOr(path, (code, cause) => new Error(`cannot read '${path}' (${code})`, { cause })).toString('utf8');
}
