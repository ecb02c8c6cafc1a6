/** The agent's face: builds an Agent and its parts from validated settings. */
import { Logger } from '../log/logger.js';
import { Agent } from './agent.js';
import { AgentClient } from './client.js';
import type { AgentSettings } from './config.js';
import { Reloader } from './reload.js';
import type { Clock, Random } from './scheduler.js';
import { StatusBoard, serveStatus, type StatusServer } from './status.js';
import { BundleWriter } from './writer.js';

export { loadAgentConfig, parseAgentConfig, resolveSettings, type AgentConfig, type AgentSettings } from './config.js';
export type { OnceResult } from './agent.js';

export interface AgentParts {
  agent: Agent;
  board: StatusBoard;
  writer: BundleWriter;
  client: AgentClient;
  /** Starts the loop and the status endpoint (when configured). */
  start(): Promise<void>;
  /** Stops the loop (revoking the issued certificates with `revoke_on_exit` when it was started), the status endpoint and the connections. */
  close(): Promise<void>;
  /** The status endpoint's port once started (0 when none). */
  readonly statusPort: number;
}

export function createAgent(settings: AgentSettings, options: { logger?: Logger; clock?: Clock; random?: Random } = {}): AgentParts {
  const logger = options.logger ?? new Logger({ audit: null, error: process.stderr, level: settings.logLevel });
  const client = new AgentClient({ server: settings.server, ...settings.tls, timeoutMs: settings.refresh.timeoutMs });
  const writer = new BundleWriter(settings.output.dir, settings.output.combined);
  const board = new StatusBoard();
  const reloader = new Reloader(settings.reload.command, settings.reload.timeoutMs);
  const agent = new Agent({
    settings,
    client,
    writer,
    reloader,
    board,
    logger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.random ? { random: options.random } : {}),
  });
  let status: StatusServer | null = null;
  let started = false;
  return {
    agent,
    board,
    writer,
    client,
    get statusPort() {
      return status?.port ?? 0;
    },
    async start() {
      if (settings.status) {
        status = await serveStatus(board, settings.status.host, settings.status.port);
        const host = settings.status.host.includes(':') ? `[${settings.status.host}]` : settings.status.host;
        logger.info(`agent: status on http://${host}:${status.port}/status`);
      }
      started = true;
      await agent.start();
    },
    async close() {
      await agent.stop();
      // Only a running agent revokes: `--once` writes the pair the web server starts with.
      if (started) await agent.revokeOnExit();
      await status?.close();
      client.close();
    },
  };
}
