/**
 * The KES-equivalent baseline (run as its own process by servers.ts): a bare
 * node:https server answering KES's key API for one cached key, the way KES
 * does the work, with node:crypto and nothing else: the same TLS settings as
 * keygate (client certificate requested and verified against the client CA,
 * TLS 1.2+, the identity hashed once per connection and checked against the
 * allowed set), then
 *
 *   PUT /v1/key/generate/<key>  {context?}            → {plaintext, ciphertext}
 *   PUT /v1/key/decrypt/<key>   {ciphertext, context?} → {plaintext}
 *   GET /v1/key/describe/<key>                         → the description (JSON encoded per request, as KES does)
 *   GET /version                                       → {version, commit}
 *
 * The crypto is KES's AES256 key: subkey = HMAC-SHA256(key, iv) with a fresh
 * 16-byte IV and 12-byte nonce per encryption, AES-256-GCM under it with the
 * context as associated data, raw envelope ciphertext || tag || iv || nonce.
 * The key's bytes come from the config file (the bench imports the same key
 * into keygate), and are held as they would be in a process-wide key cache.
 * No routing table, no policy patterns, no audit log, no keystore.
 *
 * Usage: baseline-kes.ts CONFIG.json; prints `listening <port>` on stdout.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveBaseline, type BaselineTLSConfig } from './baseline-server.js';

export interface KesBaselineConfig extends BaselineTLSConfig {
  keyName: string;
  /** The key's 32 bytes, base64. */
  keyB64: string;
  /** What describe answers (encoded per request). */
  description: unknown;
  version: unknown;
}

const config = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as KesBaselineConfig;
const key = Buffer.from(config.keyB64, 'base64');
const IV = 16;
const NONCE = 12;
const TAG = 16;

function seal(plaintext: Buffer, aad: Buffer): Buffer {
  const random = randomBytes(IV + NONCE);
  const subkey = createHmac('sha256', key).update(random.subarray(0, IV)).digest();
  const cipher = createCipheriv('aes-256-gcm', subkey, random.subarray(IV), { authTagLength: TAG });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([body, final, cipher.getAuthTag(), random]);
}

function open(raw: Buffer, aad: Buffer): Buffer | undefined {
  if (raw.length < TAG + IV + NONCE) return undefined;
  const end = raw.length - IV - NONCE;
  const subkey = createHmac('sha256', key)
    .update(raw.subarray(end, end + IV))
    .digest();
  const decipher = createDecipheriv('aes-256-gcm', subkey, raw.subarray(end + IV), { authTagLength: TAG });
  decipher.setAuthTag(raw.subarray(end - TAG, end));
  decipher.setAAD(aad);
  try {
    const out = decipher.update(raw.subarray(0, end - TAG));
    decipher.final();
    return out;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, json: unknown): void {
  const body = JSON.stringify(json);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function field(doc: Record<string, unknown>, name: string): Buffer {
  const v = doc[name];
  return typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.alloc(0);
}

function withBody(req: IncomingMessage, then: (doc: Record<string, unknown>) => void, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 400, { message: 'invalid JSON' });
    }
    if (typeof doc !== 'object' || doc === null) return send(res, 400, { message: 'invalid JSON' });
    then(doc as Record<string, unknown>);
  });
}

const paths = {
  generate: `/v1/key/generate/${config.keyName}`,
  decrypt: `/v1/key/decrypt/${config.keyName}`,
  describe: `/v1/key/describe/${config.keyName}`,
};

serveBaseline(config, (req, res, allowed) => {
  const url = req.url ?? '';
  if (url === '/version') return send(res, 200, config.version);
  if (!allowed()) return send(res, 403, { message: 'not authorized' });
  if (url === paths.describe) return send(res, 200, config.description);
  if (url === paths.generate) {
    return withBody(
      req,
      (doc) => {
        const plaintext = randomBytes(32);
        const ciphertext = seal(plaintext, field(doc, 'context'));
        send(res, 200, { plaintext: plaintext.toString('base64'), ciphertext: ciphertext.toString('base64') });
      },
      res,
    );
  }
  if (url === paths.decrypt) {
    return withBody(
      req,
      (doc) => {
        const plaintext = open(field(doc, 'ciphertext'), field(doc, 'context'));
        if (!plaintext) return send(res, 400, { message: 'decryption failed: ciphertext is not authentic' });
        send(res, 200, { plaintext: plaintext.toString('base64') });
      },
      res,
    );
  }
  send(res, 404, { message: 'not found' });
});
