/**
 * A keystore decorator that reports the latency and failure of every operation
 * to an observer (the server's metrics), without the adapters knowing.
 */
import { isRefusal, peekOf, type Entry, type HeldEntry, type KeyStore, type ListPage, type Peek, type Peekable, type StoreStatus } from './keystore.js';

export type StoreObserver = (op: string, seconds: number, failed: boolean) => void;

export class InstrumentedKeyStore implements KeyStore, Peekable {
  private readonly peekInner: Peek;

  constructor(
    readonly inner: KeyStore,
    private readonly observe: StoreObserver,
  ) {
    this.peekInner = peekOf(inner);
  }

  private async time<T>(op: string, work: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    let failed = false;
    try {
      return await work();
    } catch (err) {
      failed = !isRefusal(err);
      throw err;
    } finally {
      this.observe(op, Number(process.hrtime.bigint() - start) / 1e9, failed);
    }
  }

  create(name: string, value: Uint8Array): Promise<void> {
    return this.time('create', () => this.inner.create(name, value));
  }
  get(name: string): Promise<Entry> {
    return this.time('get', () => this.inner.get(name));
  }
  /** The inner store's memory, when it has one; not timed: the latency histogram is about the backend. */
  peek(name: string, asRead?: boolean): HeldEntry | undefined {
    return this.peekInner(name, asRead);
  }
  update(name: string, value: Uint8Array, expectedVersion: string): Promise<string> {
    return this.time('update', () => this.inner.update(name, value, expectedVersion));
  }
  delete(name: string): Promise<void> {
    return this.time('delete', () => this.inner.delete(name));
  }
  list(prefix: string, continueAt: string, limit: number): Promise<ListPage> {
    return this.time('list', () => this.inner.list(prefix, continueAt, limit));
  }
  status(): Promise<StoreStatus> {
    return this.time('status', () => this.inner.status());
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
