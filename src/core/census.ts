/**
 * Fleet-wide counts for the metrics gauges: live tokens by kind, registered nodes,
 * and bundles whose leaf expires soon. Counting walks every group, token, node
 * and bundle record, so the answer is kept for `maxAgeMs` and refreshed in the
 * background: a scrape never waits for a walk once a first answer exists.
 */
import { setImmediate as yieldToIO } from 'node:timers/promises';
import type { BundleService } from './bundles/service.js';
import type { GroupService } from './fleet/groups.js';
import type { NodeService } from './fleet/nodes.js';
import type { TokenKind, TokenService } from './fleet/tokens.js';

export interface FleetCounts {
  tokens: Record<TokenKind, number>;
  nodes: number;
  bundlesExpiring: number;
}

export interface CensusServices {
  tokens: TokenService;
  groups: GroupService;
  nodes: NodeService;
  bundles: BundleService;
}

/** Bundles checked per turn of the event loop. */
const CENSUS_PAGE = 100;

/** Days ahead that count as "expiring soon" (the gauge's name says 30). */
export const EXPIRY_HORIZON_DAYS = 30;

export async function countFleet(s: CensusServices): Promise<FleetCounts> {
  const groups = await s.groups.all();
  const tokens = await s.tokens.countLive((t) => t.kind === 'admin' || groups.get(t.group)?.generation === t.generation);
  const nodes = await s.nodes.countRegistered(groups);
  let bundlesExpiring = 0;
  let continueAt = '';
  do {
    const page = await s.bundles.list({ prefix: '', continueAt, expiringWithinDays: EXPIRY_HORIZON_DAYS, limit: CENSUS_PAGE });
    bundlesExpiring += page.names.length;
    continueAt = page.continueAt;
    // Entries held in memory answer without I/O, so a page can complete without leaving the
    // event loop: let the requests waiting behind it in, between pages.
    await yieldToIO();
  } while (continueAt !== '');
  return { tokens, nodes, bundlesExpiring };
}

export interface CensusOptions {
  maxAgeMs: number;
  /** How long the first scrape waits for the first count before answering without it. */
  firstWaitMs: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

/** The last count, refreshed at most once per `maxAgeMs` and never twice at once. */
export class Census {
  private last: { counts: FleetCounts; at: number } | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly services: () => CensusServices,
    private readonly options: CensusOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async get(): Promise<FleetCounts | undefined> {
    if (!this.last || this.now() - this.last.at >= this.options.maxAgeMs) {
      const refresh = this.refresh();
      if (!this.last) await Promise.race([refresh, new Promise((r) => setTimeout(r, this.options.firstWaitMs).unref())]);
    }
    return this.last?.counts;
  }

  private refresh(): Promise<void> {
    this.running ??= countFleet(this.services())
      .then((counts) => {
        this.last = { counts, at: this.now() };
      })
      .catch((err: unknown) => this.options.onError?.(err))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
