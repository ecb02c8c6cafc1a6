/**
 * (n) A node's fetch by node token with the read cache off (`cache.max_bytes: 0`) on a
 * real Vault (../shared/tools/vault or VAULT_BIN; else the Vault test server), as in
 * issue 19's head-to-head with RKS: one node token, 32 connections, keep-alive and
 * `Connection: close` (a new TLS connection per request, sessions resumed). The
 * client certificates' policy does not allow the read, so every request goes
 * through the node token → group → bundle grant; with the cache off that is 2 keystore
 * reads (token and bundle; the group record is kept for cache.expiry.credentials).
 * Also: how long a node token revoked through one replica keeps working on another
 * (two keygate servers on the same Vault, each with its own cache).
 */
import { callOK, call } from '../client.js';
import type { Scenario } from '../context.js';
import type { ClientIdentity } from '../loadgen-types.js';
import { sleep } from '../loadgen.js';
import { BUNDLE, BUNDLE_PATH, importBundle, keygate, load } from './common.js';
import { ROOT, startAnyVault } from './pki-sign.js';

const CONNECTIONS = 32;
const GROUP = 'bench-fleet';

export const nodeFetch: Scenario = {
  id: 'n',
  title: 'node fetch by node token, cache off, on Vault (keep-alive and Connection: close); revocation across replicas',
  async run(ctx, out) {
    const v = await startAnyVault(ctx);
    try {
      const keystore = { vault: { endpoint: v.url, engine: 'secret', version: 'v2', token: ROOT, prefix: 'keygate-bench-n' } };
      // No path policy for the bench identities: the node token is what lets them read.
      const allow = ['/v1/key/generate/bench-*'];
      const kg = await keygate(ctx, 'n-keygate', { keystore, cache: { max_bytes: 0 }, allow });
      const admin = ctx.pki.admin;
      await importBundle(ctx, kg, BUNDLE);
      const group = (await callOK(kg.port, ctx.pki.caPem, admin, `/v1/group/create/${GROUP}`, { method: 'PUT', body: {} })).json() as { group_token: string };
      await callOK(kg.port, ctx.pki.caPem, admin, `/v1/group/assign/${GROUP}/${BUNDLE}`, { method: 'PUT' });
      const register = async (nodeId: string): Promise<string> =>
        (
          (
            await callOK(kg.port, ctx.pki.caPem, admin, `/v1/node/register/${GROUP}`, {
              method: 'PUT',
              body: { node_id: nodeId },
              headers: { Authorization: `Bearer ${group.group_token}` },
            })
          ).json() as { node_token: string }
        ).node_token;
      const token = await register('n1');
      const client = ctx.pki.clients[0] as ClientIdentity;
      const headers = { Authorization: `Bearer ${token}` };
      const body = (await callOK(kg.port, ctx.pki.caPem, client, BUNDLE_PATH, { headers })).body;
      const spec = { method: 'GET' as const, path: BUNDLE_PATH, headers, expectStatus: 200, expectBodyB64: body.toString('base64') };
      const identities = ctx.pki.clients.slice(0, CONNECTIONS);

      const keep = await load(ctx, 'n node fetch, cache off, keep-alive / keygate', kg, spec, { kind: 'closed' }, { identities });
      out.measure({ label: `n node fetch by node token, cache off, ${v.kind}, keep-alive`, load: keep });
      const close = await load(
        ctx,
        'n node fetch, cache off, Connection: close / keygate',
        kg,
        spec,
        { kind: 'handshake', resume: true, loops: CONNECTIONS },
        { identities },
      );
      out.measure({ label: `n node fetch by node token, cache off, ${v.kind}, Connection: close (sessions resumed)`, load: close });
      out.figure({
        key: 'n_node_fetch_cache_off_keepalive',
        title: 'node fetch by node token, cache off, Vault, keep-alive',
        unit: 'req/s',
        keygate: keep.perSecond,
        node: null,
        nginx: null,
        higherIsBetter: true,
      });
      out.figure({
        key: 'n_node_fetch_cache_off_keepalive_p99',
        title: 'p99 of those',
        unit: 'ms',
        keygate: keep.p99Ms,
        node: null,
        nginx: null,
        higherIsBetter: false,
      });
      out.figure({
        key: 'n_node_fetch_cache_off_close',
        title: 'node fetch by node token, cache off, Vault, Connection: close',
        unit: 'req/s',
        keygate: close.perSecond,
        node: null,
        nginx: null,
        higherIsBetter: true,
      });
      out.figure({
        key: 'n_node_fetch_cache_off_close_p99',
        title: 'p99 of those',
        unit: 'ms',
        keygate: close.p99Ms,
        node: null,
        nginx: null,
        higherIsBetter: false,
      });

      // Revocation across replicas: a second replica with the default cache reads with a token, the first revokes it.
      const other = await keygate(ctx, 'n-keygate-replica', { keystore, allow });
      const victim = await register('n2');
      const victimHeaders = { Authorization: `Bearer ${victim}` };
      await callOK(other.port, ctx.pki.caPem, client, BUNDLE_PATH, { headers: victimHeaders });
      await callOK(kg.port, ctx.pki.caPem, admin, `/v1/node/revoke/${GROUP}/n2`, { method: 'DELETE' });
      const revoked = performance.now();
      let seconds: number | null = null;
      while (performance.now() - revoked < 60_000) {
        if ((await call(other.port, ctx.pki.caPem, client, BUNDLE_PATH, { headers: victimHeaders })).status === 403) {
          seconds = (performance.now() - revoked) / 1000;
          break;
        }
        await sleep(100);
      }
      out.measure({
        label: 'n revoked node token refused by the other replica after',
        values: { seconds: seconds === null ? 'not within 60 s' : Number(seconds.toFixed(2)) },
      });
      out.figure({
        key: 'n_revocation_across_replicas_s',
        title: 'a node token revoked on one replica, refused by another after (default cache.expiry.credentials 10 s)',
        unit: 's',
        keygate: seconds,
        node: null,
        nginx: null,
        higherIsBetter: false,
      });
      out.note(
        `${v.kind}, KV v2 at secret/, root token. One node token on ${CONNECTIONS} connections (one client certificate each, whose policy does not allow the read). ` +
          'Connection: close runs 32 loops of one request per new TLS connection, TLS sessions resumed. The revocation figure polls the other replica every 100 ms.',
      );
    } finally {
      await v.stop();
    }
  },
};
