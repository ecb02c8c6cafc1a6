/**
 * The server's configuration snapshot: admin, policies, identities and the
 * services built on the keystore. A reload builds a new State and swaps the
 * pointer; each request reads the pointer once, so it runs start to finish on
 * one consistent snapshot.
 */
import type { Policy } from '../policy/index.js';
import type { KeyService } from '../core/keys.js';
import type { KeyStore } from '../../keystores/keystore.js';
import type { Logger } from '../log/logger.js';

export interface State {
  /** The admin identity, or null when admin is disabled (a non-hex value in the config). */
  readonly admin: string | null;
  /** The configured admin value as written (KES lists it even when disabled). */
  readonly adminName: string;
  readonly policies: ReadonlyMap<string, Policy>;
  /** identity → its one policy */
  readonly identities: ReadonlyMap<string, Policy>;
  readonly createdAt: Date;
  readonly store: KeyStore;
  readonly keys: KeyService;
  readonly logger: Logger;
}

export interface StateHolder {
  current: State;
}
