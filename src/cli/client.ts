/**
 * The CLI's client of the server: the shared HTTPS client (src/client/https.ts) with the
 * caller's certificate, one connection per call, JSON in and out. The server's refusals are
 * `ServerError` (status and code; src/cli/main.ts turns the status into the exit code); a
 * server that cannot be reached is an `UnreachableError` worded for a person at a terminal.
 */
import { HttpsClient, ServerError, UnreachableError, type Answer, type HttpsClientOptions, type RequestOptions } from '../client/https.js';

export { ServerError, UnreachableError };

/**
 * The shared client's options, as the agent's client takes them: server, PEM files (the
 * certificate optional only for token-authenticated calls), insecure, bearer token.
 */
export type ClientOptions = Omit<HttpsClientOptions, 'timeoutMs' | 'keepAlive'>;

export class Client extends HttpsClient {
  constructor(options: ClientOptions) {
    super({ ...options, timeoutMs: 30_000, keepAlive: false });
  }

  /** Every call goes through here (`call` decodes the JSON): a failure to connect is reworded for the terminal. */
  override async request(method: string, path: string, opts: RequestOptions = {}): Promise<Answer> {
    return super.request(method, path, opts).catch(reword);
  }
}

/** What to do about a server that cannot be reached, said to the person running the command. */
function reword(err: unknown): never {
  if (!(err instanceof UnreachableError)) throw err;
  const { host, reason, errno, detail } = err;
  if (reason === 'refused') throw new UnreachableError(`${err.message} (is the server running?)`, reason, host, errno, detail);
  if (reason === 'certificate')
    throw new UnreachableError(`cannot verify the server certificate of ${host} (${errno}): pass --ca FILE or --insecure`, reason, host, errno, detail);
  if (reason === 'timeout') throw new UnreachableError('request timed out', reason, host);
  throw new UnreachableError(`cannot reach ${host}: ${detail ?? err.message}`, reason, host, errno, detail);
}
