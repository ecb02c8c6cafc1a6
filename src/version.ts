/** keygate's version (kept equal to package.json's by a test) and the commit it was built from, if known. */
export const VERSION = '0.1.0';
export const COMMIT = process.env['KEYGATE_COMMIT'] ?? '';
