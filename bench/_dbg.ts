import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchPKI } from './pki.js';
import { startNodeBaseline, startNginx } from './servers.js';
import { runLoad } from './loadgen.js';
import { killAllSync } from './procs.js';
const tmp = mkdtempSync(join(tmpdir(), 'kgdbg-'));
const n = Number(process.argv[2] ?? 1);
const pki = createBenchPKI(tmp, n);
const body = Buffer.alloc(3500, 97);
const routes = [{ path: '/x', body, contentType: 'application/json' }];
const node = await startNodeBaseline(join(tmp, 'node'), pki, routes);
const nginx = await startNginx(join(tmp, 'nginx'), pki, routes);
console.log('started', node.port, nginx.port);
for (const s of [node, nginx]) {
  const r = await runLoad({ port: s.port, servername: 'localhost', caPem: pki.caPem, identities: pki.clients, request: { method: 'GET', path: '/x', expectStatus: 200 }, mode: { kind: 'closed', ...(process.argv[4] ? { inflight: Number(process.argv[4]) } : {}) }, warmupMs: 500, durationMs: 2000 }, Number(process.argv[3] ?? 1), s.pid);
  console.log(s.name, n, Math.round(r.perSecond), r.p50Ms, r.p99Ms, r.generatorCores.toFixed(2), r.serverCores?.toFixed(2), 'other', r.otherCores?.toFixed(2), r.errors, r.mismatches, r.errorSamples);
}
killAllSync();
