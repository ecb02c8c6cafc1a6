/**
 * The stored form of a group (`group.<name>`, JSON) and the view describe gives
 * of it, without the OAuth client secret.
 */
import { settingsFromJSON, settingsToJSON, type GroupSettings } from './group-settings.js';

export interface GroupRecord {
  readonly name: string;
  readonly incarnation: string;
  readonly generation: string;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly updatedAt: number;
  /** Includes the OAuth client secret: for the callback only, never for a response. */
  readonly settings: GroupSettings;
  /** Assigned bundle names, sorted. */
  readonly bundles: readonly string[];
  /** Hash of the current group token. */
  readonly groupToken: string;
}

/** What describe shows: the settings without the client secret. */
export interface GroupInfo extends Omit<GroupSettings, 'oauthClientSecret'> {
  name: string;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  oauthClientSecretSet: boolean;
  bundles: string[];
}

export function info(r: GroupRecord): GroupInfo {
  const { oauthClientSecret, ...settings } = r.settings;
  return {
    name: r.name,
    createdAt: new Date(r.createdAt),
    createdBy: r.createdBy,
    updatedAt: new Date(r.updatedAt),
    ...settings,
    oauthClientSecretSet: oauthClientSecret !== '',
    bundles: [...r.bundles],
  };
}

export function encode(r: GroupRecord): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      name: r.name,
      incarnation: r.incarnation,
      generation: r.generation,
      created_at: r.createdAt,
      created_by: r.createdBy,
      updated_at: r.updatedAt,
      settings: settingsToJSON(r.settings),
      bundles: r.bundles,
      group_token: r.groupToken,
    }),
  );
}

export function decode(value: Buffer): GroupRecord {
  const o = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  if (o['v'] !== 1 || typeof o['name'] !== 'string' || typeof o['generation'] !== 'string' || !Array.isArray(o['bundles'])) {
    throw new Error('groups: malformed group record');
  }
  return {
    name: o['name'],
    incarnation: String(o['incarnation']),
    generation: o['generation'],
    createdAt: Number(o['created_at']),
    createdBy: String(o['created_by'] ?? ''),
    updatedAt: Number(o['updated_at']),
    settings: settingsFromJSON((o['settings'] ?? {}) as Record<string, unknown>),
    bundles: (o['bundles'] as unknown[]).map(String),
    groupToken: String(o['group_token']),
  };
}
