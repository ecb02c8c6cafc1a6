/** Every test process refuses reads beside the repository (see test/helpers/fs-guard.ts). */
import { installFsGuard } from './helpers/fs-guard.js';

installFsGuard();
