/**
 * The config schema and the `Config` type describe the same object (issue 18): every object
 * of the schema with `properties` has exactly the keys of the type at that place, all the
 * way down. The type is read with the TypeScript compiler from src/config/schema.ts, so a
 * field added to one and forgotten in the other fails here, not in production.
 */
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
const schemaFile = join(repoRoot, 'src/config/schema.ts');

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

/** Every place where the schema's keys and the type's keys differ, as `path: +only in schema / -only in type`. */
function drift(checker: ts.TypeChecker, at: ts.Node, schema: SchemaNode, type: ts.Type, path: string): string[] {
  const t = checker.getNonNullableType(type);
  if (schema.items !== undefined) {
    return checker.isArrayType(t)
      ? drift(checker, at, schema.items, checker.getTypeArguments(t as ts.TypeReference)[0] as ts.Type, `${path}[]`)
      : [`${path}: an array in the schema, not in the type`];
  }
  if (schema.properties === undefined) return [];
  const props = new Map(checker.getPropertiesOfType(t).map((p) => [p.name, p]));
  const keys = Object.keys(schema.properties);
  const out: string[] = [];
  const onlySchema = keys.filter((k) => !props.has(k));
  const onlyType = [...props.keys()].filter((k) => !keys.includes(k));
  if (onlySchema.length > 0 || onlyType.length > 0)
    out.push(`${path || '(top)'}: ${[...onlySchema.map((k) => `+${k}`), ...onlyType.map((k) => `-${k}`)].join(' ')}`);
  for (const key of keys) {
    const prop = props.get(key);
    if (prop) out.push(...drift(checker, at, schema.properties[key] as SchemaNode, checker.getTypeOfSymbolAtLocation(prop, at), path ? `${path}.${key}` : key));
  }
  return out;
}

function configType(): { checker: ts.TypeChecker; at: ts.SourceFile; type: ts.Type } {
  const program = ts.createProgram([schemaFile], {
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  });
  const checker = program.getTypeChecker();
  const at = program.getSourceFile(schemaFile) as ts.SourceFile;
  const symbol = checker.getExportsOfModule(checker.getSymbolAtLocation(at) as ts.Symbol).find((s) => s.name === 'Config') as ts.Symbol;
  return { checker, at, type: checker.getDeclaredTypeOfSymbol(symbol) };
}

describe('config schema and Config type', () => {
  const { checker, at, type } = configType();

  it('have the same keys everywhere', () => {
    expect(drift(checker, at, configSchema as unknown as SchemaNode, type, '')).toEqual([]);
  });

  it('would report a field the type lacks, or one the schema lacks, at any depth', () => {
    const top = configSchema.properties;
    const { header_timeout: _dropped, ...limits } = top.limits.properties;
    const widened = {
      ...configSchema,
      properties: { ...top, telemetry: { type: 'string' }, limits: { ...top.limits, properties: { ...limits, max_bodies: { type: 'integer' } } } },
    };
    expect(drift(checker, at, widened as unknown as SchemaNode, type, '')).toEqual(['(top): +telemetry', 'limits: +max_bodies -header_timeout']);
  });
});
