#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node --max-semi-space-size=64
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (make does it).
// 64 MiB semi-spaces: the server's longest pauses are young-generation collections, and
// larger ones cut its p99 at half load tenfold in the bench (docs/operations.md#tuning).
// glibc.malloc.hugetlb=1: malloc's memory (a large read cache's) in transparent huge pages,
// which a VM's memory sampling stalls far less often (docs/operations.md#tuning).
// Run as `node bin/keygate.js` the line above is not read: pass both yourself.
import { main } from '../dist/src/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`keygate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
