#!/usr/bin/env -S node --max-semi-space-size=64
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (make does it).
// 64 MiB semi-spaces: the server's longest pauses are young-generation collections, and
// larger ones cut its p99 at half load tenfold in the bench (docs/operations.md#tuning).
// Run as `node bin/keygate.js` the line above is not read: pass the flag yourself.
import { main } from '../dist/src/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`keygate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
