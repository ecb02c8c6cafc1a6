/**
 * A real Vault HA cluster for tests: N nodes of one Vault binary on loopback, each with
 * integrated storage (Raft) in a fresh temporary folder and two ephemeral ports (API and
 * cluster). The first node is initialised (`sys/init`, one unseal key) and unsealed; the
 * others `sys/storage/raft/join` it and are unsealed with the same key, exactly what
 * `vault operator init` / `operator raft join` / `operator unseal` do.
 *
 * The binary: VAULT_BIN, else `../shared/tools/vault` beside the repository (Vault v1.4.0);
 * `vaultBinary()` is undefined without either, and the caller skips.
 *
 * Every node runs in its own process group (test/helpers/processes.ts, lifetime 'file'):
 * killed after the test file whatever happens, and by `close()`. Waiting is on Vault's
 * own answers (its start-up line, then its HTTP API); the test's timeout is the only clock.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { spawnTracked, type Spawned } from './processes.js';
import { freePort } from './ports.js';

const root = new URL('../../', import.meta.url).pathname;

/** The Vault binary to run, or undefined when there is none. */
export function vaultBinary(): string | undefined {
  const given = process.env['VAULT_BIN'];
  if (given !== undefined && given !== '') return given;
  // A tool, not test data: the workplace's real Vault, when this checkout sits beside it.
  const bundled = join(root, '..', 'shared', 'tools', 'vault');
  return existsSync(bundled) ? bundled : undefined;
}

export interface RaftNode {
  readonly id: string;
  /** `http://127.0.0.1:<port>` */
  readonly addr: string;
  readonly process: Spawned;
  /** Vault's output so far, for a failure's message. */
  log(): string;
}

export interface RaftAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  location: string | null;
}

export interface RaftCluster {
  readonly nodes: readonly RaftNode[];
  readonly rootToken: string;
  /** Calls Vault's HTTP API on one node; never throws for a status, only for a dead socket. */
  request(node: RaftNode, method: string, path: string, body?: unknown, token?: string): Promise<RaftAnswer>;
  /** The node whose sys/health says active (200), or undefined. */
  active(among?: readonly RaftNode[]): Promise<RaftNode | undefined>;
  /** SIGKILLs a node's process group and waits for its exit. */
  kill(node: RaftNode): Promise<void>;
  close(): Promise<void>;
}

/**
 * Calls `probe` until it returns something other than undefined (every 100 ms). After
 * `within` ms it throws, naming `what`, so a cluster that never forms fails with its
 * story (the caller adds Vault's logs) instead of running into the hook's timeout.
 */
export async function until<T>(probe: () => Promise<T | undefined>, what: string, within = 60_000): Promise<T> {
  const deadline = performance.now() + within;
  let last: unknown;
  for (;;) {
    const value = await probe().catch((err: unknown) => {
      last = err;
      return undefined;
    });
    if (value !== undefined) return value;
    if (performance.now() > deadline)
      throw new Error(`vault raft: ${what} did not happen in the ${Math.round(within)} ms it had${last ? ` (last error: ${String(last)})` : ''}`);
    await pause(100);
  }
}

/** How long one attempt at forming a cluster may take; the test's hook allows two. */
const FORM_WITHIN_MS = 75_000;

/**
 * Starts and forms the cluster. `performanceMultiplier` scales Raft's timers (Vault 1.4's
 * default, 5, takes ~15 s to elect a new leader; 1 is production-tuned).
 *
 * Forming is Vault's own business, and on a loaded machine a Raft election can flap while
 * a node joins; a cluster that has not formed within FORM_WITHIN_MS is thrown away (its
 * logs printed) and formed once more from scratch. A second failure fails the test.
 */
export async function startRaftCluster(bin: string, size = 3, performanceMultiplier = 2): Promise<RaftCluster> {
  try {
    return await formCluster(bin, size, performanceMultiplier, performance.now() + FORM_WITHIN_MS);
  } catch (err) {
    console.warn(`vault raft: the cluster did not form; forming a new one. ${(err as Error).message}`);
    return formCluster(bin, size, performanceMultiplier, performance.now() + FORM_WITHIN_MS);
  }
}

async function formCluster(bin: string, size: number, performanceMultiplier: number, deadline: number): Promise<RaftCluster> {
  const left = (): number => Math.max(0, deadline - performance.now());
  const nodes: Array<RaftNode & { dir: string }> = [];
  const request: RaftCluster['request'] = async (node, method, path, body, token) => {
    const headers: Record<string, string> = { 'X-Vault-Request': 'true' };
    if (token !== undefined) headers['X-Vault-Token'] = token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${node.addr}/v1/${path}`, {
      method,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed, location: res.headers.get('location') };
  };

  const cluster: RaftCluster & { rootToken: string } = {
    nodes,
    rootToken: '',
    request,
    async active(among = nodes) {
      const states = await Promise.all(
        among.map((n) =>
          n.process.gone
            ? Promise.resolve(0)
            : request(n, 'GET', 'sys/health').then(
                (r) => r.status,
                () => 0,
              ),
        ),
      );
      const i = states.indexOf(200);
      return i < 0 ? undefined : among[i];
    },
    async kill(node) {
      await node.process.killGroup('SIGKILL');
    },
    async close() {
      await Promise.all(nodes.map((n) => n.process.killGroup('SIGKILL')));
      for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
    },
  };

  try {
    for (let i = 0; i < size; i++) nodes.push(await startNode(bin, `node${i + 1}`, performanceMultiplier));
    const first = nodes[0] as RaftNode;
    const init = await request(first, 'PUT', 'sys/init', { secret_shares: 1, secret_threshold: 1 });
    if (init.status !== 200) throw new Error(`vault sys/init: ${init.status} ${JSON.stringify(init.body)}`);
    const key = init.body.keys_base64[0] as string;
    cluster.rootToken = init.body.root_token as string;
    await unseal(request, first, key, left());
    // Active once it won its own election and finished setting up.
    await until(async () => ((await request(first, 'GET', 'sys/health')).status === 200 ? true : undefined), `${first.id} active`, left());
    for (const node of nodes.slice(1)) {
      const joined = await request(node, 'PUT', 'sys/storage/raft/join', { leader_api_addr: first.addr });
      if (joined.status !== 200 || joined.body?.joined !== true)
        throw new Error(`vault raft join of ${node.id}: ${joined.status} ${JSON.stringify(joined.body)}`);
      await unseal(request, node, key, left());
    }
    // Formed: the leader lists every node as a voter, and every node is unsealed and a standby or active.
    await until(
      async () => {
        const conf = await request(first, 'GET', 'sys/storage/raft/configuration', undefined, cluster.rootToken);
        const servers = (conf.body?.data?.config?.servers ?? []) as Array<{ node_id: string; voter: boolean }>;
        return servers.filter((s) => s.voter).length === size ? true : undefined;
      },
      `${size} voters in the Raft configuration`,
      left(),
    );
    await until(
      async () => {
        const states = await Promise.all(nodes.map((n) => request(n, 'GET', 'sys/health').then((r) => r.status)));
        return states.every((s) => s === 200 || s === 429) && states.filter((s) => s === 200).length === 1 ? true : undefined;
      },
      'one active node and the others standby',
      left(),
    );
    return cluster;
  } catch (err) {
    const logs = nodes.map((n) => `--- ${n.id}\n${n.log().slice(-4000)}`).join('\n');
    await cluster.close();
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
}

async function unseal(request: RaftCluster['request'], node: RaftNode, key: string, within: number): Promise<void> {
  const res = await request(node, 'PUT', 'sys/unseal', { key });
  if (res.status !== 200) throw new Error(`vault unseal of ${node.id}: ${res.status} ${JSON.stringify(res.body)}`);
  // A joining node reports sealed until it has fetched the cluster's keyring over Raft.
  await until(async () => ((await request(node, 'GET', 'sys/seal-status')).body?.sealed === false ? true : undefined), `${node.id} unsealed`, within);
}

async function startNode(bin: string, id: string, multiplier: number): Promise<RaftNode & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `keygate-raft-${id}-`));
  const [api, clusterPort] = [await freePort(), await freePort()];
  const addr = `http://127.0.0.1:${api}`;
  const config = join(dir, 'vault.hcl');
  writeFileSync(
    config,
    [
      'storage "raft" {',
      `  path = "${join(dir, 'raft')}"`,
      `  node_id = "${id}"`,
      `  performance_multiplier = ${multiplier}`,
      '}',
      'listener "tcp" {',
      `  address = "127.0.0.1:${api}"`,
      `  cluster_address = "127.0.0.1:${clusterPort}"`,
      '  tls_disable = true',
      '}',
      `api_addr = "${addr}"`,
      `cluster_addr = "https://127.0.0.1:${clusterPort}"`,
      'disable_mlock = true',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  mkdirSync(join(dir, 'raft'), { mode: 0o700 });
  const proc = spawnTracked(bin, ['server', `-config=${config}`], { env: { ...process.env, VAULT_LOG_LEVEL: 'info' } }, 'file');
  await proc.waitFor(/Vault server started!/, 'stdout');
  return { id, addr, dir, process: proc, log: () => proc.stderr() + proc.stdout() };
}
