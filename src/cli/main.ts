/** The `keygate` command line: one program for the server, the agent and the client commands. */
import { Command, CommanderError } from 'commander';
import { serverCommand } from './server-cmd.js';
import { identityCommand } from './identity-cmd.js';
import { keyCommand } from './key-cmd.js';
import { certCommand } from './cert-cmd.js';
import { groupCommand } from './group-cmd.js';
import { nodeCommand } from './node-cmd.js';
import { pkiCommand } from './pki-cmd.js';
import { agentCommand } from './agent-cmd.js';
import { devCertsCommand } from './dev-certs-cmd.js';
import { rksCommand } from './rks-cmd.js';
import { migrateCommand } from './migrate-cmd.js';
import { ServerError } from './client.js';
import { endQuietlyOnClosedPipe } from './pipes.js';
import { VERSION } from '../version.js';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, denied: 3, notFound: 4 } as const;

export function buildProgram(): Command {
  const program = new Command('keygate')
    .description('keygate: TLS certificates, private keys and encryption keys for fleets, over mTLS')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.addCommand(serverCommand());
  program.addCommand(identityCommand());
  program.addCommand(keyCommand());
  program.addCommand(certCommand());
  program.addCommand(groupCommand());
  program.addCommand(nodeCommand());
  program.addCommand(pkiCommand());
  program.addCommand(agentCommand());
  program.addCommand(rksCommand());
  program.addCommand(migrateCommand());
  program.addCommand(devCertsCommand(), { hidden: true });
  // Every level, so `keygate key create` without a name exits 2 too (commander would exit 1 itself).
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  program.commands.forEach(override);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  endQuietlyOnClosedPipe(EXIT.ok);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version requests end "successfully"; usage mistakes exit 2.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`keygate: ${message}\n`);
    process.exitCode = exitCodeOf(err);
    // Now, not when the event loop empties: a command that failed half-way may leave a handle
    // open (a cluster worker's channel to its primary, a listener that started), and a process
    // that never exits has no exit status at all. stdout and stderr are synchronous for files
    // and pipes, so nothing written is lost.
    process.exit();
  }
}

function exitCodeOf(err: unknown): number {
  if (err instanceof ServerError) {
    if (err.status === 401 || err.status === 403) return EXIT.denied;
    if (err.status === 404) return EXIT.notFound;
  }
  return EXIT.failure;
}
