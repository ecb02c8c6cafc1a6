/**
 * No test file leaves a process behind (issue 12): whatever test/helpers/processes.ts spawned
 * in a hook and the file did not stop is killed, with its whole process group, after the file.
 */
import { afterAll } from 'vitest';
import { killAllSpawned } from './helpers/processes.js';

afterAll(killAllSpawned);
