/** (c) data keys: `PUT /v1/key/generate/<key>` by 1000 identities over keep-alive connections. keygate only. */
import { callOK } from '../client.js';
import type { Scenario } from '../context.js';
import { keygate, load } from './common.js';

const KEY = 'bench-key';

export const generateDataKeys: Scenario = {
  id: 'c',
  title: 'generate data keys (KES API)',
  async run(ctx, out) {
    const kg = await keygate(ctx, 'c-keygate');
    await callOK(kg.port, ctx.pki.caPem, ctx.pki.admin, `/v1/key/create/${KEY}`, { method: 'PUT' });
    const body = JSON.stringify({ context: Buffer.from('bucket=photos').toString('base64') });
    const r = await load(ctx, 'c generate / keygate', kg, { method: 'PUT', path: `/v1/key/generate/${KEY}`, body, expectStatus: 200 }, { kind: 'closed' });
    out.measure({ label: 'c generate / keygate', load: r });
    out.note(
      `PUT /v1/key/generate/${KEY} with an associated-data context, closed loop over ${ctx.pki.clients.length} keep-alive connections: ` +
        'a fresh 256-bit data key and its AES-256-GCM envelope per request. No node/nginx counterpart (null).',
    );
    out.figure({ key: 'c_generate', title: 'generate data keys', unit: 'req/s', keygate: r.perSecond, node: null, nginx: null, higherIsBetter: true });
    out.figure({ key: 'c_generate_p99', title: 'generate data keys, p99 at maximum rate', unit: 'ms', keygate: r.p99Ms, node: null, nginx: null, higherIsBetter: false });
  },
};
