/**
 * A reader that goes away (`keygate cert describe x | head -1`) makes the next write fail with
 * EPIPE, which Node reports as an 'error' event on the stream: unhandled, that is a stack trace
 * and exit 1. A one-shot command's reader chose to stop reading, so it ends quietly with the
 * status earned so far (a walkthrough under `set -o pipefail` must not fail because `head`
 * stopped early). A daemon (server, agent) keeps serving instead: losing its log reader is no
 * reason to stop answering clients, and what it would have printed is lost either way.
 */
let daemon = false;

/** Called by the long-running commands: a closed stdout/stderr no longer ends the process. */
export function keepRunningOnClosedPipe(): void {
  daemon = true;
}

export function endQuietlyOnClosedPipe(okStatus: number): void {
  for (const stream of [process.stdout, process.stderr]) {
    const marked = stream as { keygatePipeGuard?: boolean };
    if (marked.keygatePipeGuard) continue;
    marked.keygatePipeGuard = true;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // After the first EPIPE, a daemon's later writes meet a destroyed stream: the same loss.
      if (err.code !== 'EPIPE' && !(daemon && err.code === 'ERR_STREAM_DESTROYED')) throw err;
      if (!daemon) process.exit(typeof process.exitCode === 'number' ? process.exitCode : okStatus);
    });
  }
}
