/**
 * Bundle changes made through this process, so a watch answers as soon as one lands;
 * changes made through other replicas or workers are seen by the watch's polling.
 * One per server: it outlives configuration reloads, so a watch that started before a
 * reload still hears of a change made after it.
 */
import { EventEmitter } from 'node:events';

export class BundleChanges {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notify(name: string): void {
    this.emitter.emit(name);
  }

  /** Resolves on a change of `name`, after `ms`, or when `signal` aborts, whichever comes first. */
  next(name: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.emitter.off(name, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.emitter.on(name, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
