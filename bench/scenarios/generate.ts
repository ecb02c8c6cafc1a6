/**
 * (c) KES's key API: generate, decrypt, describe and `/version`, keygate against the
 * KES-equivalent baseline (baseline-kes.ts: a bare node:https server doing the same
 * crypto with node:crypto on a cached key), both given the same 256-bit key, the same
 * client certificates and the same generator, in rounds (common.ts `loadInRounds`).
 * Reported: median rates, the median of the per-round ratios, and the server's CPU time
 * per request (its CPU over the window / requests), which the other jobs on a shared
 * machine disturb far less than the rates.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { callOK } from '../client.js';
import type { Scenario } from '../context.js';
import type { ClientIdentity, RequestSpec } from '../loadgen-types.js';
import { startKesBaseline, type Server } from '../servers.js';
import { keygate, loadInRounds, roundsNote, serverNodeFlags, summarizeRounds } from './common.js';

const KEY = 'bench-key';
/** As the KES comparison in issue 19 (wrk, 32 keep-alive connections). */
const CONNECTIONS = 32;

export const generateDataKeys: Scenario = {
  id: 'c',
  title: "KES's key API (generate, decrypt, describe, /version) against a KES-equivalent node:crypto baseline",
  async run(ctx, out) {
    const kg = await keygate(ctx, 'c-keygate');
    const admin = ctx.pki.admin;
    const key = randomBytes(32);
    await callOK(kg.port, ctx.pki.caPem, admin, `/v1/key/import/${KEY}`, { method: 'PUT', body: { key: key.toString('base64'), cipher: 'AES256' } });
    const client = ctx.pki.clients[0] as ClientIdentity;
    const context = Buffer.from('bucket=photos').toString('base64');
    const generateBody = JSON.stringify({ context });
    const dek = (await callOK(kg.port, ctx.pki.caPem, client, `/v1/key/generate/${KEY}`, { method: 'PUT', body: { context } })).json() as {
      plaintext: string;
      ciphertext: string;
    };
    const decryptBody = JSON.stringify({ ciphertext: dek.ciphertext, context });
    const describe = (await callOK(kg.port, ctx.pki.caPem, client, `/v1/key/describe/${KEY}`)).body;
    const version = (await callOK(kg.port, ctx.pki.caPem, client, '/version')).body;
    const decrypted = Buffer.from(JSON.stringify({ plaintext: dek.plaintext }));

    const kes = ctx.use(
      await startKesBaseline(
        join(ctx.settings.tmp, 'c-kes'),
        ctx.pki,
        {
          keyName: KEY,
          key,
          description: JSON.parse(describe.toString('utf8')) as unknown,
          version: JSON.parse(version.toString('utf8')) as unknown,
        },
        { nodeFlags: serverNodeFlags(ctx, 'c-kes'), env: ctx.settings.serverEnv },
      ),
    );
    // The baseline must really do the same crypto: it opens keygate's data key, and keygate opens the baseline's.
    const viaKes = await callOK(kes.port, ctx.pki.caPem, client, `/v1/key/decrypt/${KEY}`, { method: 'PUT', body: { ciphertext: dek.ciphertext, context } });
    if (!viaKes.body.equals(decrypted)) throw new Error("the KES baseline does not open keygate's ciphertext");
    const kesDek = (await callOK(kes.port, ctx.pki.caPem, client, `/v1/key/generate/${KEY}`, { method: 'PUT', body: { context } })).json() as {
      plaintext: string;
      ciphertext: string;
    };
    const back = (
      await callOK(kg.port, ctx.pki.caPem, client, `/v1/key/decrypt/${KEY}`, { method: 'PUT', body: { ciphertext: kesDek.ciphertext, context } })
    ).json() as { plaintext: string };
    if (back.plaintext !== kesDek.plaintext) throw new Error("keygate does not open the KES baseline's ciphertext");
    for (const [path, bytes] of [
      [`/v1/key/describe/${KEY}`, describe],
      ['/version', version],
    ] as const) {
      if (!(await callOK(kes.port, ctx.pki.caPem, client, path)).body.equals(bytes))
        throw new Error(`the KES baseline does not answer ${path} as keygate does`);
    }

    const identities = ctx.pki.clients.slice(0, CONNECTIONS);
    const requests: Array<{ op: string; title: string; spec: RequestSpec }> = [
      { op: 'generate', title: 'generate a data key', spec: { method: 'PUT', path: `/v1/key/generate/${KEY}`, body: generateBody, expectStatus: 200 } },
      {
        op: 'decrypt',
        title: 'decrypt a data key',
        spec: { method: 'PUT', path: `/v1/key/decrypt/${KEY}`, body: decryptBody, expectStatus: 200, expectBodyB64: decrypted.toString('base64') },
      },
      {
        op: 'describe',
        title: 'describe a key',
        spec: { method: 'GET', path: `/v1/key/describe/${KEY}`, expectStatus: 200, expectBodyB64: describe.toString('base64') },
      },
      { op: 'version', title: '/version', spec: { method: 'GET', path: '/version', expectStatus: 200, expectBodyB64: version.toString('base64') } },
    ];
    const sides: Array<['keygate' | 'node', Server]> = [
      ['keygate', kg],
      ['node', kes],
    ];
    const sideName = (side: 'keygate' | 'node'): string => (side === 'node' ? 'KES baseline' : side);
    for (const { op, title, spec } of requests) {
      // Rounds where a target depends on the figure; describe and /version (informative) are measured once, for the bench's time limit.
      const target = op === 'generate' || op === 'decrypt';
      const rounds = await loadInRounds(ctx, out, `c ${op}`, sides, spec, { kind: 'closed' }, { identities, sideName, ...(target ? {} : { rounds: 1 }) });
      const sum = summarizeRounds(
        rounds,
        sides.map(([side]) => side),
      );
      out.figure({
        key: `c_${op}`,
        title: `${title} (median over rounds)`,
        unit: 'req/s',
        keygate: sum.rate.keygate ?? null,
        node: sum.rate.node ?? null,
        nginx: null,
        higherIsBetter: true,
        ratios: sum.ratios,
      });
      out.figure({
        key: `c_${op}_cpu_per_request`,
        title: `${title}, server CPU per request (median over rounds)`,
        unit: 'ms CPU',
        keygate: sum.cpuPerRequestMs.keygate ?? null,
        node: sum.cpuPerRequestMs.node ?? null,
        nginx: null,
        higherIsBetter: false,
      });
      out.note(
        roundsNote(
          ctx,
          `${title} (node = the KES baseline)`,
          rounds,
          sides.map(([side]) => side),
          sum,
        ),
      );
      for (const [p, name] of [
        ['p50Ms', 'p50'],
        ['p99Ms', 'p99'],
        ['p999Ms', 'p99.9'],
      ] as const) {
        out.figure({
          key: `c_${op}_${name.replace('.', '')}`,
          title: `${title}, ${name} at maximum rate`,
          unit: 'ms',
          keygate: sum[p].keygate ?? null,
          node: sum[p].node ?? null,
          nginx: null,
          higherIsBetter: false,
        });
      }
    }
    out.note(
      `Closed loop over ${CONNECTIONS} keep-alive connections (one identity each), as the KES comparison of issue 19 (wrk, 32 connections). ` +
        "In this scenario the node:https column is the KES-equivalent baseline (bench/baseline-kes.ts): KES's AES256 crypto " +
        '(HMAC-SHA256 subkey per IV, AES-256-GCM) with node:crypto on a key held in memory, JSON encoded per request, no policy, no audit log, no keystore. ' +
        "Both servers hold the same imported key; each opens the other's ciphertexts (checked before the runs). " +
        "CPU per request is the server process's CPU time over the window divided by the requests answered in it.",
    );
  },
};
