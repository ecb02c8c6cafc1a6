/**
 * The import table of eslint.config.js (issue 18): every source file has a row, and the rule
 * reports arrows that point back up, resolving relative paths however they are spelled.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ESLint } from 'eslint';

const repoRoot = new URL('../../', import.meta.url).pathname;
const configUrl = new URL('../../eslint.config.js', import.meta.url).href;
const { layers } = (await import(configUrl)) as { layers: Record<string, string[]> };

function sources(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)));
}

const eslint = new ESLint({ cwd: repoRoot });

/** The import-direction messages for `code` linted as if it were the file `path`. */
async function arrows(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(repoRoot, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'keygate/import-direction').map((m) => m.message);
}

describe('import direction', () => {
  it('gives every source file of src/ and keystores/ a row', () => {
    const keys = Object.keys(layers);
    const rowless = [...sources('src'), ...sources('keystores')].filter((f) => !keys.some((k) => f === k || f.startsWith(`${k}/`)));
    expect(rowless).toEqual([]);
  });

  it('reports a service importing the server, and an adapter importing a service', async () => {
    expect(await arrows('src/core/probe.ts', "import type { State } from '../server/state.js';\nexport type S = State;\n")).toEqual([
      'src/core may not import src/server/state.ts; see the layers in eslint.config.js',
    ]);
    expect(await arrows('keystores/probe.ts', "import { BundleService } from '../src/core/bundles/service.js';\nexport const B = BundleService;\n")).toEqual([
      'keystores may not import src/core/bundles/service.ts; see the layers in eslint.config.js',
    ]);
    expect(await arrows('src/server/probe.ts', "import { ServerTls } from '../compose/tls.js';\nexport const T = ServerTls;\n")).toEqual([
      'src/server may not import src/compose/tls.ts; see the layers in eslint.config.js',
    ]);
  });

  it("allows a 'type:' entry only as import type", async () => {
    expect(await arrows('src/server/probe.ts', "import type { KeyService } from '../core/keys/service.js';\nexport type K = KeyService;\n")).toEqual([]);
    expect(await arrows('src/server/probe.ts', "import { KeyService } from '../core/keys/service.js';\nexport const K = KeyService;\n")).toEqual([
      'src/server may not import src/core/keys/service.ts; see the layers in eslint.config.js',
    ]);
  });

  it('allows the arrows down, the leaves and a folder to itself', async () => {
    expect(
      await arrows(
        'src/api/probe.ts',
        "import { KeyService } from '../core/keys/service.js';\nimport { NotFoundError } from '../errors.js';\nimport * as params from './params.js';\nexport const all = [KeyService, NotFoundError, params];\n",
      ),
    ).toEqual([]);
  });

  it('reports a new folder without a row, and source importing tests', async () => {
    expect(await arrows('src/newfolder/probe.ts', "import { NotFoundError } from '../core/keys/service.js';\nexport const E = NotFoundError;\n")).toEqual([
      'src/newfolder/probe.ts has no row in the import table (layers in eslint.config.js)',
    ]);
    expect(await arrows('src/core/probe.ts', "import { certs } from '../../test/helpers/certs.js';\nexport const C = certs;\n")).toEqual([
      'src/core/probe.ts must not import test or bench code (test/helpers/certs.ts)',
    ]);
  });
});
