/** The keystore entry whose existence means `POST /rks/v1/init` has been answered 201 (written by the RKS surface and by `keygate migrate`). */
export const INIT_ENTRY = 'rks.initialized';
