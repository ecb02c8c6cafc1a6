/**
 * (b) a new TLS connection for every request (`Connection: close`): full
 * handshakes, then with session resumption (each client loop offers the
 * ticket of its previous connection).
 */
import type { Scenario, Side } from '../context.js';
import type { LoadResult } from '../loadgen.js';
import { BUNDLE_PATH, SIDES, bundleRead, load, startTrio } from './common.js';

/** Connections in flight at any time; each loop keeps one identity, so its resumed sessions stay its own. */
const LOOPS = 32;

export const handshakes: Scenario = {
  id: 'b',
  title: 'new connection per request: full handshakes, and with session resumption',
  async run(ctx, out) {
    const trio = await startTrio(ctx, 'b');
    const identities = ctx.pki.clients.slice(0, LOOPS);
    const figures: Record<'full' | 'resumed', Partial<Record<Side, number>>> = { full: {}, resumed: {} };
    for (const resume of [false, true]) {
      const kind = resume ? 'resumed' : 'full';
      for (const side of SIDES) {
        const label = `b ${kind} handshakes / ${side}`;
        const r: LoadResult = await load(ctx, label, trio.servers[side], bundleRead(trio.body), { kind: 'handshake', resume, loops: LOOPS }, { identities });
        out.measure({ label, load: r });
        figures[kind][side] = r.perSecond;
        if (resume && (r.resumedShare ?? 0) < 0.95) out.note(`${side}: only ${(((r.resumedShare ?? 0) * 100) | 0)} % of the connections were resumed.`);
      }
    }
    out.note(
      `${LOOPS} connections in flight, each: TLS handshake with a P-256 client certificate (verified against the client CA by all three servers), ` +
        `GET ${BUNDLE_PATH} with Connection: close, read the answer, close. TLS 1.3 (X25519, AES-256-GCM), P-256 server key. ` +
        'Resumption uses TLS 1.3 session tickets; the share of connections actually resumed is in the measurements.',
    );
    for (const kind of ['full', 'resumed'] as const) {
      const f = figures[kind];
      out.figure({
        key: `b_${kind}_handshakes`,
        title: kind === 'full' ? 'full handshakes (one request each)' : 'resumed handshakes (one request each)',
        unit: 'conn/s',
        keygate: f.keygate ?? null,
        node: f.node ?? null,
        nginx: f.nginx ?? null,
        higherIsBetter: true,
      });
    }
  },
};
