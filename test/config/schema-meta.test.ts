/**
 * The configuration schemas against the JSON Schema meta-schema. The server skips
 * this check when it compiles them at start-up (it is slow and they never change
 * at run time), so it happens here instead.
 */
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { configSchema } from '../../src/config/schema.js';
import { agentConfigSchema } from '../../src/agent/config.js';

describe('configuration schemas', () => {
  it.each([
    ['server', configSchema],
    ['agent', agentConfigSchema],
  ])('the %s schema is a valid JSON Schema', (_, schema) => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
  });

  it('a broken schema is caught by this check', () => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    expect(ajv.validateSchema({ type: 'object', properties: { a: { type: 'strin' } } })).toBe(false);
  });
});
