/** Runs the keygate CLI from the sources (tests of `keygate agent` run it with tsx, no build needed). */
import { main } from '../../src/cli/main.js';

await main(process.argv);
