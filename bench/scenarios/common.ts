/** Building blocks the scenarios share: keygate with a bundle in it, the three servers side by side, a load run. */
import { join } from 'node:path';
import type { BenchContext, Side } from '../context.js';
import { callOK } from '../client.js';
import { runLoad, type LoadResult } from '../loadgen.js';
import type { ClientIdentity, LoadMode, RequestSpec } from '../loadgen-types.js';
import { startKeygate, startNginx, startNodeBaseline, type KeygateOptions, type Server, type StaticRoute } from '../servers.js';

/** The bundle every read scenario fetches. */
export const BUNDLE = 'bench-a.example';
export const BUNDLE_PATH = `/v1/cert/get/${BUNDLE}`;
export const BUNDLE_TTL = 3600;

/** Starts keygate in `<tmp>/<name>`, profiled when the run asks for it. */
export async function keygate(ctx: BenchContext, name: string, opts: Partial<KeygateOptions> = {}): Promise<Server> {
  const dir = join(ctx.settings.tmp, name);
  const nodeFlags = ctx.settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.settings.tmp, 'profiles', name)}`] : [];
  return ctx.use(await startKeygate(ctx.settings.repo, { dir, pki: ctx.pki, keystore: { memory: {} }, nodeFlags, ...opts }));
}

/** Imports `name` as the admin through the API, the way an operator would. */
export async function importBundle(ctx: BenchContext, server: Server, name: string): Promise<void> {
  const { chainPem, keyPem } = ctx.pki.bundle(name);
  await callOK(server.port, ctx.pki.caPem, ctx.pki.admin, `/v1/cert/import/${name}`, {
    method: 'PUT',
    body: { certificate: chainPem, private_key: keyPem, ttl: BUNDLE_TTL },
  });
}

/** What keygate answers a node for `path`: the exact bytes the baselines will serve. */
export async function fetchBytes(ctx: BenchContext, server: Server, path: string): Promise<Buffer> {
  return (await callOK(server.port, ctx.pki.caPem, ctx.pki.clients[0] as ClientIdentity, path)).body;
}

export interface Trio {
  servers: Record<Side, Server>;
  /** The bundle's bytes as keygate serves them. */
  body: Buffer;
}

/** keygate (memory keystore, one worker) with the bundle imported, and the two baselines serving its bytes. */
export async function startTrio(ctx: BenchContext, name: string): Promise<Trio> {
  const kg = await keygate(ctx, `${name}-keygate`);
  await importBundle(ctx, kg, BUNDLE);
  const body = await fetchBytes(ctx, kg, BUNDLE_PATH);
  const routes: StaticRoute[] = [{ path: BUNDLE_PATH, body, contentType: 'application/json' }];
  const node = ctx.use(await startNodeBaseline(join(ctx.settings.tmp, `${name}-node`), ctx.pki, routes));
  const nginx = ctx.use(await startNginx(join(ctx.settings.tmp, `${name}-nginx`), ctx.pki, routes));
  // nginx must really serve the same bytes, or the comparison means nothing.
  const viaNginx = await fetchBytes(ctx, nginx, BUNDLE_PATH);
  if (!viaNginx.equals(body)) throw new Error('nginx does not serve the bytes keygate serves');
  return { servers: { keygate: kg, node, nginx }, body };
}

export const SIDES: Side[] = ['keygate', 'node', 'nginx'];

/** The read of the shared bundle, checked byte for byte on every response. */
export function bundleRead(body: Buffer): RequestSpec {
  return { method: 'GET', path: BUNDLE_PATH, expectStatus: 200, expectBodyB64: body.toString('base64') };
}

export interface LoadOptions {
  identities?: ClientIdentity[];
  warmupMs?: number;
  durationMs?: number;
}

/** One load run against `server` with the run's settings, logged as it finishes. */
export async function load(ctx: BenchContext, label: string, server: Server, request: RequestSpec, mode: LoadMode, opts: LoadOptions = {}): Promise<LoadResult> {
  const result = await runLoad(
    {
      port: server.port,
      servername: 'localhost',
      caPem: ctx.pki.caPem,
      identities: opts.identities ?? ctx.pki.clients,
      request,
      mode,
      warmupMs: opts.warmupMs ?? ctx.settings.warmupMs,
      durationMs: opts.durationMs ?? ctx.settings.durationMs,
    },
    ctx.settings.procs,
    server.pid,
  );
  const bad = result.errors + result.mismatches;
  ctx.log(
    `  ${label}: ${result.perSecond.toFixed(0)}/s, p50 ${fmtMs(result.p50Ms)}, p99 ${fmtMs(result.p99Ms)}, ` +
      `generator ${result.generatorCores.toFixed(2)} cores, server ${result.serverCores?.toFixed(2) ?? '?'} cores${bad ? `, ${bad} errors (${result.errorSamples[0] ?? ''})` : ''}`,
  );
  return result;
}

const fmtMs = (v: number | null): string => (v === null ? '–' : `${v.toFixed(2)} ms`);
