/**
 * Key versions against a model: any sequence of rotate / encrypt / generate / decrypt /
 * rewrap / min_decryption_version operations, spread over two KeyServices sharing one
 * keystore (two replicas, each with its own decoded-key memo), agrees with a model that
 * knows only which version made each ciphertext, the latest version and the minimum.
 * Every run starts from a key imported with a KES vector's master key, whose KES-made
 * ciphertext is part of the history, so KES ciphertexts must keep decrypting (as
 * version 1) through any rotation.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openingVectors, type DecryptVector } from '../helpers/kes-vectors.js';
import { MemoryKeyStore } from '../../keystores/memory.js';
import { KeyService } from '../../src/core/keys/service.js';
import { BadRequestError } from '../../src/errors.js';
import { VERSION_MAGIC } from '../../src/crypto/index.js';

const vectors = openingVectors;

const NOT_AUTHENTIC = 'decryption failed: ciphertext is not authentic';
const RETIRED = 'decryption failed: key version is retired (below min_decryption_version)';

type Op =
  | { kind: 'rotate'; replica: number }
  | { kind: 'encrypt'; replica: number; plaintext: Uint8Array; context: Uint8Array | undefined }
  | { kind: 'generate'; replica: number; context: Uint8Array | undefined }
  | { kind: 'decrypt'; replica: number; pick: number; wrongContext: boolean }
  | { kind: 'rewrap'; replica: number; pick: number }
  | { kind: 'tamper'; replica: number; pick: number; at: number }
  | { kind: 'min'; replica: number; value: number };

const replica = fc.integer({ min: 0, max: 1 });
const pick = fc.nat();
const context = fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined });
const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('rotate' as const), replica }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('encrypt' as const), replica, plaintext: fc.uint8Array({ maxLength: 40 }), context }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('generate' as const), replica, context }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('decrypt' as const), replica, pick, wrongContext: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('rewrap' as const), replica, pick }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('tamper' as const), replica, pick, at: fc.nat() }), weight: 1 },
  // Sometimes out of range (0, or beyond the latest version): the refusal is part of the model.
  { arbitrary: fc.record({ kind: fc.constant('min' as const), replica, value: fc.integer({ min: 0, max: 12 }) }), weight: 2 },
);

interface Sealed {
  ciphertext: Buffer;
  plaintext: Buffer;
  context: Buffer | undefined;
  version: number;
}

/** The version a ciphertext carries, from its tag; untagged is 1. */
function versionOf(ct: Buffer): number {
  return ct.subarray(0, 4).equals(VERSION_MAGIC) ? ct.readUInt32BE(4) : 1;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

async function run(vector: DecryptVector & { plaintext: string }, ops: Op[]): Promise<void> {
  const store = new MemoryKeyStore();
  const services = [new KeyService(store), new KeyService(store)];
  await services[0]!.import('k', Buffer.from(vector.master_key, 'base64'), vector.algorithm, 'tester');
  const original = (await store.get('k')).value;
  const model = { latest: 1, min: 1 };
  const history: Sealed[] = [
    {
      ciphertext: Buffer.from(vector.ciphertext, 'base64'),
      plaintext: Buffer.from(vector.plaintext, 'base64'),
      context: vector.context === null ? undefined : Buffer.from(vector.context, 'base64'),
      version: 1,
    },
  ];
  const seal = (ciphertext: Buffer, plaintext: Buffer, ctx: Buffer | undefined) => {
    expect(versionOf(ciphertext)).toBe(model.latest);
    history.push({ ciphertext, plaintext, context: ctx, version: model.latest });
  };

  for (const o of ops) {
    const keys = services[o.replica]!;
    switch (o.kind) {
      case 'rotate': {
        const d = await keys.rotate('k', 'rotator');
        model.latest++;
        expect(d.latestVersion).toBe(model.latest);
        break;
      }
      case 'encrypt': {
        const pt = Buffer.from(o.plaintext);
        const ctx = o.context && Buffer.from(o.context);
        seal(await keys.encrypt('k', pt, ctx), pt, ctx);
        break;
      }
      case 'generate': {
        const ctx = o.context && Buffer.from(o.context);
        const dek = await keys.generate('k', ctx);
        seal(dek.ciphertext, dek.plaintext, ctx);
        break;
      }
      case 'decrypt': {
        const s = history[o.pick % history.length]!;
        const ctx = o.wrongContext ? Buffer.concat([s.context ?? Buffer.alloc(0), Buffer.from([1])]) : s.context;
        if (s.version < model.min) expect(await refusal(keys.decrypt('k', s.ciphertext, ctx))).toBe(RETIRED);
        else if (o.wrongContext) expect(await refusal(keys.decrypt('k', s.ciphertext, ctx))).toBe(NOT_AUTHENTIC);
        else expect((await keys.decrypt('k', s.ciphertext, ctx)).equals(s.plaintext)).toBe(true);
        break;
      }
      case 'rewrap': {
        const s = history[o.pick % history.length]!;
        if (s.version < model.min) {
          expect(await refusal(keys.rewrap('k', s.ciphertext, s.context))).toBe(RETIRED);
        } else {
          seal(await keys.rewrap('k', s.ciphertext, s.context), s.plaintext, s.context);
        }
        break;
      }
      case 'tamper': {
        const s = history[o.pick % history.length]!;
        // KES's msgpack and JSON envelopes carry fields KES ignores (key ID, cipher name): changing those is no tampering.
        if (s === history[0] && vector.envelope !== 'raw') break;
        const bad = Buffer.from(s.ciphertext);
        bad[o.at % bad.length]! ^= 0x01;
        // Any change fails: as not authentic, or as retired when it took the tag away while version 1 is retired.
        expect([NOT_AUTHENTIC, RETIRED]).toContain(await refusal(keys.decrypt('k', bad, s.context)));
        break;
      }
      case 'min': {
        if (o.value >= 1 && o.value <= model.latest) {
          const d = await keys.setMinDecryptionVersion('k', o.value);
          model.min = o.value;
          expect(d.minDecryptionVersion).toBe(model.min);
        } else {
          expect(await refusal(keys.setMinDecryptionVersion('k', o.value))).toBe(
            `min_decryption_version must be an integer from 1 to the latest version (${model.latest})`,
          );
        }
        break;
      }
    }
    const d = await services[(o.replica + 1) % 2]!.describe('k');
    expect([d.latestVersion, d.minDecryptionVersion, d.versions.map((v) => v.version)]).toEqual([
      model.latest,
      model.min,
      Array.from({ length: model.latest }, (_, i) => i + 1),
    ]);
    expect(d.createdBy).toBe('tester');
    // Until the first rotation the entry is exactly what the import wrote (KES's format).
    if (model.latest === 1) expect((await store.get('k')).value.equals(original)).toBe(true);
  }
}

describe('key versions against a model', () => {
  it('any sequence of operations, on two replicas, agrees with the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...vectors), fc.array(op, { minLength: 1, maxLength: 40 }), (vector, ops) => run(vector, ops)),
      { numRuns: 100 },
    );
  });
});
