/**
 * Property tests run with a fixed seed so a CI run is reproducible: a failure is a
 * real regression, not the luck of the draw. `FC_SEED=<n>` replays a given run;
 * `FC_SEED=random` explores new cases (do that locally, then pin what it finds).
 */
import fc from 'fast-check';

const seed = process.env['FC_SEED'];
if (seed !== 'random') fc.configureGlobal({ seed: seed === undefined ? 20261123 : Number(seed) });
