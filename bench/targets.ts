/**
 * The targets issues 6 and 19 set ("Done means"), computed from the figures: reported,
 * never asserted. An informative entry has no goal of its own: it puts a baseline
 * through the same measure as keygate (e.g. bare node's p99 against nginx's).
 */
import { div, type Figure, type RatioName, type ScenarioReport, type Target } from './report.js';

type Lookup = (key: string) => Figure | undefined;

interface TargetDef {
  key: string;
  title: string;
  goal: number;
  atLeast: boolean;
  value: (fig: Lookup) => number | null;
  /** For a median of per-round ratios: every round's ratio. */
  rounds?: (fig: Lookup) => Array<number | null> | undefined;
  /** Reported beside the targets, never counted as met or missed. */
  informative?: boolean;
}

/**
 * keygate against another side of one figure. Measured in rounds, that is the median of the
 * per-round ratios the figure carries (scenarios a and c), not the ratio of its median rates.
 */
function keygateOver(figure: string, other: 'node' | 'nginx'): Pick<TargetDef, 'value' | 'rounds'> {
  return ratioOf(figure, other === 'node' ? 'keygate/node' : 'keygate/nginx');
}

/** One side against another of one figure: the median of its per-round ratios when it has them (a, c, d), else the plain ratio. */
function ratioOf(figure: string, name: RatioName): Pick<TargetDef, 'value' | 'rounds'> {
  const [a, b] = name.split('/') as ['keygate' | 'node', 'node' | 'nginx'];
  return {
    value: (f) => {
      const fig = f(figure);
      const r = fig?.ratios?.[name];
      return r ? r.median : div(fig?.[a], fig?.[b]);
    },
    rounds: (f) => f(figure)?.ratios?.[name]?.rounds,
  };
}

const DEFS: TargetDef[] = [
  {
    key: 'keepalive_reads_vs_node',
    title: '(a) keep-alive bundle reads, keygate / bare node:https',
    goal: 0.8,
    atLeast: true,
    ...keygateOver('a_keepalive_reads', 'node'),
  },
  {
    key: 'keepalive_reads_vs_nginx',
    title: '(a) keep-alive bundle reads, keygate / nginx',
    goal: 0.45,
    atLeast: true,
    ...keygateOver('a_keepalive_reads', 'nginx'),
  },
  {
    key: 'full_handshakes_vs_node',
    title: '(b) full handshakes, keygate / bare node:https',
    goal: 0.9,
    atLeast: true,
    ...keygateOver('b_full_handshakes', 'node'),
  },
  {
    key: 'resumed_vs_full_handshakes',
    title: '(b) keygate resumed / full handshakes',
    goal: 2,
    atLeast: true,
    // The median of keygate's per-round ratios, both kinds measured back to back in each round (handshakes.ts).
    value: (f) => f('b_resumed_vs_full')?.keygate ?? null,
    rounds: (f) => f('b_resumed_vs_full')?.keygateRounds,
  },
  {
    key: 'kes_generate_vs_baseline',
    title: '(c) generate data keys, keygate / KES-equivalent node:crypto baseline',
    goal: 0.8,
    atLeast: true,
    ...keygateOver('c_generate', 'node'),
  },
  {
    key: 'kes_decrypt_vs_baseline',
    title: '(c) decrypt, keygate / KES-equivalent node:crypto baseline',
    goal: 0.8,
    atLeast: true,
    ...keygateOver('c_decrypt', 'node'),
  },
  {
    key: 'node_fetch_cache_off_keepalive',
    title: '(n) node fetch by node token, cache off, Vault, keep-alive, req/s (RKS measured 533–581)',
    goal: 600,
    atLeast: true,
    value: (f) => f('n_node_fetch_cache_off_keepalive')?.keygate ?? null,
  },
  {
    key: 'node_fetch_cache_off_close',
    title: '(n) the same with Connection: close, req/s (RKS measured ~390)',
    goal: 400,
    atLeast: true,
    value: (f) => f('n_node_fetch_cache_off_close')?.keygate ?? null,
  },
  {
    key: 'p99_at_half_load_vs_nginx',
    title: "(d) keygate p99 at half of its maximum rate / nginx's p99 at half of its own, same run",
    goal: 3,
    atLeast: false,
    ...ratioOf('d_latency_p99_at_half_load', 'keygate/nginx'),
  },
  {
    key: 'node_p99_at_half_load_vs_nginx',
    title: "(d) bare node:https p99 at half of its maximum rate / nginx's, same run (the same measure for the baseline)",
    goal: 3,
    atLeast: false,
    informative: true,
    ...ratioOf('d_latency_p99_at_half_load', 'node/nginx'),
  },
  {
    key: 'fs_100k_startup_s',
    title: '(e) start-up with 100 000 bundles in the fs keystore, s',
    goal: 1,
    atLeast: false,
    value: (f) => f('e_fs_startup_100k')?.keygate ?? null,
  },
  {
    key: 'fs_100k_full_cache_read_p99_vs_100',
    title: '(e) read p99 with 100 000 bundles, read cache holding them all / with 100 bundles',
    goal: 2,
    atLeast: false,
    // The median of the per-round ratios, both servers measured in each round (fs-scale.ts).
    value: (f) => f('e_read_p99_ratio_100k_full_cache')?.keygate ?? null,
    rounds: (f) => f('e_read_p99_ratio_100k_full_cache')?.keygateRounds,
  },
  {
    key: 'fs_100k_full_cache_server_p99_vs_100',
    title: "(e) the same ratio of keygate's own time per read (its audit log: request parsed to answer written)",
    goal: 2,
    atLeast: false,
    informative: true,
    value: (f) => f('e_server_p99_ratio_100k_full_cache')?.keygate ?? null,
    rounds: (f) => f('e_server_p99_ratio_100k_full_cache')?.keygateRounds,
  },
  {
    key: 'vault_warm_vs_memory',
    title: '(f) keep-alive reads, Vault keystore with a warm cache / memory keystore',
    goal: 0.9,
    atLeast: true,
    // The median of the per-round ratios, both servers measured in each round (vault.ts).
    value: (f) => f('f_vault_warm_vs_memory')?.keygate ?? null,
    rounds: (f) => f('f_vault_warm_vs_memory')?.keygateRounds,
  },
];

export function computeTargets(scenarios: ScenarioReport[]): Target[] {
  const figures = new Map(scenarios.flatMap((s) => s.figures.map((f) => [f.key, f] as const)));
  const lookup: Lookup = (key) => figures.get(key);
  return DEFS.map((d) => {
    const value = d.value(lookup);
    const rounds = d.rounds?.(lookup);
    const met = value !== null && (d.atLeast ? value >= d.goal : value <= d.goal);
    return {
      key: d.key,
      title: d.title,
      value,
      goal: d.goal,
      atLeast: d.atLeast,
      met,
      ...(d.informative ? { informative: true } : {}),
      ...(rounds ? { rounds } : {}),
    };
  });
}
