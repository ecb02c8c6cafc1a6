/**
 * The `sys/*` endpoints Vault serves outside the logical router (http/sys_*.go):
 * health, seal-status, init, unseal, seal, leader. No envelope, no namespace.
 */
import type { Core } from './core.js';
import { encode, Struct } from './json.js';
import { ACL_DENIED, errorBody, type Rendered } from './reply.js';
import { parseGoBool } from './util.js';

export const SPECIAL_PATHS = new Set(['sys/health', 'sys/seal-status', 'sys/init', 'sys/unseal', 'sys/seal', 'sys/leader']);
/** Root-only: refused when X-Vault-Namespace names a child namespace. */
const ROOT_ONLY = new Set(['sys/health', 'sys/init', 'sys/unseal', 'sys/seal']);

const BUILD_DATE = '2025-06-24T14:07:11Z';

export function sealStatusBody(core: Core): Struct {
  const s = core.seal;
  const bao = core.flavor.name === 'openbao';
  return new Struct([
    ['type', 'shamir'],
    ['initialized', s.initialized],
    ['sealed', s.sealed],
    ['t', s.threshold],
    ['n', s.shares],
    ['progress', s.progress.length],
    ['nonce', s.nonce],
    ['version', core.flavor.version],
    [bao ? 'commit_date' : 'build_date', BUILD_DATE],
    ['migration', false],
    ['cluster_name', s.sealed ? undefined : core.clusterName],
    ['cluster_id', s.sealed ? undefined : core.clusterId],
    ['recovery_seal', false],
    ['storage_type', 'inmem'],
  ]);
}

const json = (status: number, body: Struct | Record<string, unknown>): Rendered => ({ status, body: encode(body) + '\n' });
const errors = (status: number, ...msgs: string[]): Rendered => ({ status, body: errorBody(msgs) });

export interface SpecialRequest {
  path: string;
  method: string;
  query: URLSearchParams;
  body: Record<string, unknown>;
  token: string;
  /** X-Vault-Namespace resolved to a non-root namespace. */
  inChildNamespace: boolean;
}

export function handleSpecial(core: Core, req: SpecialRequest): Rendered {
  if (req.inChildNamespace && ROOT_ONLY.has(req.path)) return errors(400, 'operation unavailable in namespaces');
  switch (req.path) {
    case 'sys/health':
      return health(core, req);
    case 'sys/seal-status':
      return req.method === 'GET' ? json(200, sealStatusBody(core)) : errors(405);
    case 'sys/init':
      return init(core, req);
    case 'sys/unseal':
      return unseal(core, req);
    case 'sys/seal':
      return seal(core, req);
    default:
      return leader(core, req);
  }
}

function health(core: Core, req: SpecialRequest): Rendered {
  if (req.method !== 'GET' && req.method !== 'HEAD') return errors(405);
  const vault = core.flavor.name !== 'openbao';
  const q = req.query;
  const bool = (k: string): boolean | null => {
    const v = q.get(k);
    if (v === null) return false;
    return parseGoBool(v) ?? null;
  };
  const standbyOk = bool('standbyok');
  const perfStandbyOk = vault ? bool('perfstandbyok') : false;
  if (standbyOk === null || perfStandbyOk === null) return errors(400);
  const codes: Record<string, number> = { uninitcode: 501, sealedcode: 503, standbycode: 429, activecode: 200 };
  if (vault) Object.assign(codes, { drsecondarycode: 472, performancestandbycode: 473, haunhealthycode: 474, removedcode: 530 });
  for (const k of Object.keys(codes)) {
    const v = q.get(k);
    if (v === null) continue;
    if (!/^[+-]?\d+$/.test(v)) return errors(400);
    codes[k] = Number(v);
  }
  const s = core.seal;
  const standby = core.role === 'standby' || core.role === 'perfstandby';
  const perf = vault && core.role === 'perfstandby';
  let code = codes['activecode'] as number;
  if (!s.initialized) code = codes['uninitcode'] as number;
  else if (s.sealed) code = codes['sealedcode'] as number;
  else if (vault && core.role === 'drsecondary') code = codes['drsecondarycode'] as number;
  else if (perf) code = perfStandbyOk ? code : (codes['performancestandbycode'] as number);
  else if (standby) code = standbyOk ? code : (codes['standbycode'] as number);
  const body = new Struct([
    ['initialized', s.initialized],
    ['sealed', s.sealed],
    ['standby', standby],
    ['performance_standby', vault ? perf : undefined],
    ['replication_performance_mode', 'disabled'],
    ['replication_dr_mode', core.role === 'drsecondary' ? 'secondary' : 'disabled'],
    ['server_time_utc', Math.floor(core.now() / 1000)],
    ['version', core.flavor.version],
    ['enterprise', vault ? core.flavor.enterprise : undefined],
    ['cluster_name', s.sealed ? undefined : core.clusterName],
    ['cluster_id', s.sealed ? undefined : core.clusterId],
    ['echo_duration_ms', vault ? 0 : undefined],
    ['clock_skew_ms', vault ? 0 : undefined],
    ['replication_primary_canary_age_ms', vault ? 0 : undefined],
    ['ha_connection_healthy', vault && standby ? true : undefined],
  ]);
  if (req.method === 'HEAD') return { status: code, body: '' };
  return json(code, body);
}

function init(core: Core, req: SpecialRequest): Rendered {
  if (req.method === 'GET') return json(200, new Struct([['initialized', core.seal.initialized]]));
  if (req.method !== 'PUT' && req.method !== 'POST') return errors(405);
  if (core.seal.initialized) return errors(400, 'Vault is already initialized');
  const shares = Number(req.body['secret_shares'] ?? 0);
  const threshold = Number(req.body['secret_threshold'] ?? 0);
  const invalid =
    shares < 1
      ? 'shares must be at least one'
      : threshold < 1
        ? 'threshold must be at least one'
        : shares > 1 && threshold === 1
          ? 'threshold must be greater than one for multiple shares'
          : shares > 255
            ? 'shares must be less than 256'
            : threshold > 255
              ? 'threshold must be less than 256'
              : threshold > shares
                ? 'threshold cannot be larger than shares'
                : undefined;
  if (invalid) return errors(400, `invalid seal configuration: ${invalid}`);
  const { keys, rootToken } = core.initialize(shares, threshold);
  return json(
    200,
    new Struct([
      ['keys', keys.map((k) => k.toString('hex'))],
      ['keys_base64', keys.map((k) => k.toString('base64'))],
      ['root_token', rootToken],
    ]),
  );
}

function unseal(core: Core, req: SpecialRequest): Rendered {
  if (req.method !== 'PUT' && req.method !== 'POST') return errors(405);
  const s = core.seal;
  const reset = parseGoBool(req.body['reset']) ?? false;
  const keyStr = typeof req.body['key'] === 'string' ? req.body['key'] : '';
  if (!reset && keyStr === '') return errors(400, "'key' must be specified in request body as JSON, or 'reset' set to true");
  if (reset) {
    if (!s.sealed) return errors(400, 'vault is unsealed');
    s.progress = [];
    return json(200, sealStatusBody(core));
  }
  let key: Buffer;
  if (/^([0-9a-fA-F]{2})+$/.test(keyStr)) key = Buffer.from(keyStr, 'hex');
  else if (/^[A-Za-z0-9+/]+={0,2}$/.test(keyStr) && keyStr.length % 4 === 0) key = Buffer.from(keyStr, 'base64');
  else return errors(400, "'key' must be a valid hex or base64 string");
  if (!s.initialized) return errors(400, 'Vault is not initialized');
  if (!s.sealed) return json(200, sealStatusBody(core));
  if (!s.progress.some((p) => p.equals(key))) s.progress.push(key);
  if (s.progress.length >= s.threshold) {
    const valid = s.progress.every((p) => s.keys.some((k) => k.equals(p)));
    s.progress = [];
    if (!valid) return errors(400, 'Unseal failed, invalid key');
    s.sealed = false;
  }
  return json(200, sealStatusBody(core));
}

function seal(core: Core, req: SpecialRequest): Rendered {
  if (req.method !== 'PUT' && req.method !== 'POST') return errors(405);
  if (core.seal.sealed) return errors(503, 'Vault is sealed');
  const te = req.token ? core.tokens.lookup(req.token) : undefined;
  if (!te) return errors(403, ACL_DENIED);
  const acl = core.aclFor(te);
  const r = acl.allowOperation('update', 'sys/seal');
  if (!r.allowed || !r.sudo) return errors(403, ACL_DENIED);
  core.seal.sealed = true;
  core.seal.progress = [];
  return { status: 204, body: '' };
}

/** A non-HA server answers ErrHANotEnabled before any seal check: zero values, sealed or not. */
function leader(_core: Core, req: SpecialRequest): Rendered {
  if (req.method !== 'GET') return errors(405);
  return json(
    200,
    new Struct([
      ['ha_enabled', false],
      ['is_self', false],
      ['active_time', '0001-01-01T00:00:00Z'],
      ['leader_address', ''],
      ['leader_cluster_address', ''],
      ['performance_standby', false],
      ['performance_standby_last_remote_wal', 0],
    ]),
  );
}
