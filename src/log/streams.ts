/**
 * The live log streams (`/v1/log/audit`, `/v1/log/error`): every line this server
 * logs goes to every subscriber. With `server.workers`, a subscriber is connected to
 * one worker, so the other workers pass their lines on (through `peers`) — but only
 * while some worker has a subscriber, so a server nobody watches sends nothing.
 */
export type LogKind = 'audit' | 'error';
type Listener = (line: string) => void;

/** The other workers of a cluster, as the log streams see them. */
export interface LogPeers {
  /** Tells the others whether this worker has subscribers of `kind`. */
  want(kind: LogKind, wanted: boolean): void;
  /** Whether another worker has subscribers of `kind` (lines are worth sending). */
  wanted(kind: LogKind): boolean;
  /** Sends this worker's line to the workers that want it. */
  send(kind: LogKind, line: string): void;
  /** Calls `deliver` with the lines other workers send. */
  receive(deliver: (kind: LogKind, line: string) => void): void;
}

export class LogStreams {
  private readonly subscribers: Record<LogKind, Set<Listener>> = { audit: new Set(), error: new Set() };

  constructor(private readonly peers?: LogPeers) {
    peers?.receive((kind, line) => this.deliver(kind, line));
  }

  /** A live subscription; returns the unsubscribe function. */
  subscribe(kind: LogKind, listener: Listener): () => void {
    const set = this.subscribers[kind];
    set.add(listener);
    if (set.size === 1) this.peers?.want(kind, true);
    return () => {
      if (set.delete(listener) && set.size === 0) this.peers?.want(kind, false);
    };
  }

  /** Whether anyone, in this worker or another, would receive a line of `kind` (lines are worth making). */
  wanted(kind: LogKind): boolean {
    return this.subscribers[kind].size > 0 || (this.peers?.wanted(kind) ?? false);
  }

  /** A line this process logged: to its own subscribers, and to other workers' if they have any. */
  logged(kind: LogKind, line: string): void {
    this.deliver(kind, line);
    if (this.peers?.wanted(kind)) this.peers.send(kind, line);
  }

  private deliver(kind: LogKind, line: string): void {
    for (const l of this.subscribers[kind]) l(line);
  }
}
