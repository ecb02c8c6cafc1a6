/**
 * Random bytes for the key API's hot path (IVs, nonces, data keys), drawn from
 * a pool that node:crypto's CSPRNG refills 4 KiB at a time. `randomBytes` costs
 * a call into OpenSSL per request (about as much as the AES-GCM seal itself on
 * small inputs); the pool costs one per ~70 data keys. Every byte handed out is
 * copied into a buffer of its own and wiped from the pool, so no two callers
 * ever get the same bytes and nothing stays behind once used. keygate's workers
 * are separate processes (each started afresh), so no pool is ever shared by a fork.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/** `n` fresh random bytes (n ≤ 4096) in a buffer of their own (not the shared allocUnsafe pool). */
export function freshRandom(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > POOL_SIZE) throw new RangeError('freshRandom: 0 to 4096 bytes');
  if (offset + n > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.alloc(n);
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
