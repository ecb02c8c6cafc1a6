/**
 * What a backend hands back to the request pipeline, and how that becomes
 * Vault's HTTP response (status, envelope, error body).
 */
import { randomUUID } from 'node:crypto';
import { encode, Struct } from './json.js';

export type Operation = 'read' | 'list' | 'create' | 'update' | 'delete' | 'patch';

/** logical.Auth as rendered in the `auth` field of the envelope (struct order matters). */
export interface AuthBlock {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies: string[];
  identity_policies: string[];
  metadata: Record<string, string> | null;
  lease_duration: number;
  renewable: boolean;
  entity_id: string;
  token_type: string;
  orphan: boolean;
  num_uses: number;
}

export type Reply =
  /** A logical response; rendered as the envelope with status 200. */
  | {
      kind: 'ok';
      data: Record<string, unknown> | null;
      warnings?: string[];
      auth?: AuthBlock;
      leaseDuration?: number;
      /** Legacy sys endpoints copy `data` keys to the top level of the body. */
      inject?: boolean;
    }
  /** The backend returned nothing: 404 for reads and lists, 204 otherwise. */
  | { kind: 'none' }
  | { kind: 'error'; status: number; errors: string[] }
  /** logical.RespondWithStatusCode: an envelope with a chosen status and no trailing newline. */
  | { kind: 'raw'; status: number; data: Record<string, unknown> | null; warnings?: string[] }
  /** Already rendered (special sys handlers). */
  | { kind: 'body'; status: number; body: string };

export const ok = (data: Record<string, unknown> | null, extra: Omit<Extract<Reply, { kind: 'ok' }>, 'kind' | 'data'> = {}): Reply => ({
  kind: 'ok',
  data,
  ...extra,
});
export const none = (): Reply => ({ kind: 'none' });
/** logical.ListResponseWithInfo: empty parts are left out, so an empty listing becomes a 404. */
export function listResponse(keys: string[], keyInfo?: Record<string, unknown>): Reply {
  const data: Record<string, unknown> = {};
  if (keys.length) data['keys'] = keys;
  if (keyInfo && Object.keys(keyInfo).length) data['key_info'] = keyInfo;
  return { kind: 'ok', data };
}
export const fail = (status: number, ...errors: string[]): Reply => ({ kind: 'error', status, errors });
export const badRequest = (msg: string): Reply => fail(400, msg);
/** How Go's multierror renders a single wrapped error (ACL denials, framework routing errors). */
export const multiError = (msg: string): string => `1 error occurred:\n\t* ${msg}\n\n`;
export const PERMISSION_DENIED = 'permission denied';
export const ACL_DENIED = multiError(PERMISSION_DENIED);
export const raw = (status: number, data: Record<string, unknown> | null, warnings?: string[]): Reply =>
  warnings ? { kind: 'raw', status, data, warnings } : { kind: 'raw', status, data };

export interface Rendered {
  status: number;
  body: string;
}

export interface RenderOptions {
  op: Operation;
  /** `mount_type` value; undefined when the flavour does not emit the field. */
  mountType: string | undefined;
}

export function errorBody(errors: readonly string[]): string {
  return encode({ errors }) + '\n';
}

function authStruct(a: AuthBlock): Struct {
  return new Struct([
    ['client_token', a.client_token],
    ['accessor', a.accessor],
    ['policies', a.policies],
    ['token_policies', a.token_policies.length ? a.token_policies : undefined],
    ['identity_policies', a.identity_policies.length ? a.identity_policies : undefined],
    ['metadata', a.metadata],
    ['lease_duration', a.lease_duration],
    ['renewable', a.renewable],
    ['entity_id', a.entity_id],
    ['token_type', a.token_type],
    ['orphan', a.orphan],
    ['mfa_requirement', null],
    ['num_uses', a.num_uses],
  ]);
}

function envelope(
  data: Record<string, unknown> | null,
  warnings: string[] | undefined,
  auth: AuthBlock | undefined,
  leaseDuration: number,
  mountType: string | undefined,
): [string, unknown][] {
  return [
    ['request_id', randomUUID()],
    ['lease_id', ''],
    ['renewable', false],
    ['lease_duration', leaseDuration],
    ['data', data],
    ['wrap_info', null],
    ['warnings', warnings && warnings.length ? warnings : null],
    ['auth', auth ? authStruct(auth) : null],
    ['mount_type', mountType],
  ];
}

/** logical.RespondErrorCommon + respondLogical: picks the status and writes the body. */
export function render(reply: Reply, opts: RenderOptions): Rendered {
  switch (reply.kind) {
    case 'body':
      return { status: reply.status, body: reply.body };
    case 'error':
      return { status: reply.status, body: errorBody(reply.errors) };
    case 'none':
      if (opts.op === 'read' || opts.op === 'list') return { status: 404, body: errorBody([]) };
      return { status: 204, body: '' };
    case 'raw': {
      // Built inside the backend, before the router stamps the mount type on the response.
      const fields = envelope(reply.data, reply.warnings, undefined, 0, opts.mountType === undefined ? undefined : '');
      return { status: reply.status, body: encode(new Struct(fields)) };
    }
    case 'ok': {
      if (opts.op === 'list' && !reply.warnings?.length) {
        const d = reply.data ?? {};
        const keys = d['keys'];
        const n = Object.keys(d).length;
        if (n === 0 || (n === 1 && Array.isArray(keys) && keys.length === 0)) {
          return { status: 404, body: errorBody([]) };
        }
      }
      const fields = envelope(reply.data, reply.warnings, reply.auth, reply.leaseDuration ?? 0, opts.mountType);
      if (reply.inject && reply.data) {
        // HTTPSysInjector writes each data key in front of the envelope's own fields.
        const top: [string, unknown][] = Object.keys(reply.data)
          .sort()
          .map((k) => [k, (reply.data as Record<string, unknown>)[k]]);
        return { status: 200, body: encode(new Struct([...top, ...fields])) + '\n' };
      }
      return { status: 200, body: encode(new Struct(fields)) + '\n' };
    }
  }
}
