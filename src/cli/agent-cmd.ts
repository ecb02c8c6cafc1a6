/** `keygate agent`: keeps this node's certificate bundles on disk for a web server (see src/agent). */
import { Command } from 'commander';
import { keepRunningOnClosedPipe } from './pipes.js';

interface AgentFlags {
  config: string;
  once?: boolean;
}

export function agentCommand(): Command {
  return new Command('agent')
    .description("fetch this node's certificate bundles, write them atomically for a web server and reload it")
    .requiredOption('--config <file>', 'agent configuration (YAML)')
    .option('--once', 'fetch and write every bundle once, then exit (no reload command); non-zero when any bundle failed')
    .action(async (flags: AgentFlags) => {
      // Loaded here, not at the top: the server and client commands never pay for the agent's modules.
      const { createAgent, loadAgentConfig, resolveSettings } = await import('../agent/index.js');
      const settings = resolveSettings(loadAgentConfig(flags.config));
      const parts = createAgent(settings);
      if (flags.once) {
        const result = await parts.agent.once().finally(() => parts.close());
        if (!result.ok) throw new Error(`agent: could not fetch every bundle:\n  ${result.failures.join('\n  ')}`);
        process.stderr.write(`keygate agent: bundles written to ${settings.output.dir}\n`);
        return;
      }
      keepRunningOnClosedPipe();
      // Listening before the start: a SIGTERM while it starts still stops cleanly (revoke_on_exit).
      const signalled = untilSignal();
      await parts.start();
      // SIGHUP: fetch everything now (after a replacement, instead of waiting for the TTL).
      const refresh = () => parts.agent.refreshAll();
      process.on('SIGHUP', refresh);
      await signalled;
      process.off('SIGHUP', refresh);
      await parts.close();
    });
}

/** Resolves on the first SIGTERM or SIGINT. */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
