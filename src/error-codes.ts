/**
 * The error catalogue: every error keygate answers with has a stable named code here, with its
 * HTTP status, the error class it is thrown as (`kind`), and its message template (`%s` is
 * filled in order from the throw site's arguments). Code reads codes, never message text:
 * the RKS surface translates by code, and clients (the CLI, the agent) read the code from the
 * `Keygate-Error-Code` header every error answer carries. The body carries only the message
 * (KES clients compare it), so a message here must never change; docs/api.md lists every
 * code (a test keeps the two equal).
 *
 * Generic codes (template `%s`) are the classes of failure whose message is the throw site's
 * own detail, such as a field's validation rule: their text is stable per site, not per code.
 * The status is keygate's own; a surface may answer a code with its own (RKS answers every
 * backend failure 500).
 *
 * This module imports nothing (see the layers in eslint.config.js).
 */
export type ErrorKind = 'BadRequest' | 'BodyDecode' | 'NotAuthorized' | 'NotFound' | 'Exists' | 'Conflict' | 'NotAcceptable' | 'Unavailable' | 'Plain';

export interface ErrorSpec {
  readonly status: number;
  readonly kind: ErrorKind;
  readonly message: string;
}

const spec = (status: number, kind: ErrorKind, message: string): ErrorSpec => ({ status, kind, message });

export const ERROR_CODES = {
  // Generic: the message is the throw site's own.
  INVALID_REQUEST: spec(400, 'BadRequest', '%s'),
  INVALID_BODY: spec(400, 'BodyDecode', '%s'),
  INVALID_NAME: spec(400, 'BadRequest', 'invalid name'),
  CERTIFICATE_REQUIRED: spec(400, 'BadRequest', 'tls: client certificate is required'),
  NOT_AUTHORIZED: spec(403, 'NotAuthorized', 'not authorized: insufficient permissions'),
  ACCESS_DENIED: spec(403, 'NotAuthorized', '%s'),
  NOT_FOUND: spec(404, 'NotFound', '%s'),
  CONFLICT: spec(409, 'Conflict', '%s'),
  ALREADY_EXISTS: spec(409, 'Exists', '%s'),
  NOT_ACCEPTABLE: spec(406, 'NotAcceptable', '%s'),
  UNAVAILABLE: spec(502, 'Unavailable', '%s'),
  KEYSTORE_FAILED: spec(502, 'Unavailable', '%s'),
  INTERNAL: spec(500, 'Plain', '%s'),
  // The dispatcher.
  ROUTE_NOT_FOUND: spec(404, 'NotFound', 'not found'),
  METHOD_NOT_ALLOWED: spec(405, 'Plain', "received method '%s' expected '%s'"),
  PAYLOAD_TOO_LARGE: spec(413, 'Plain', 'request body too large'),
  TOO_MANY_FAILURES: spec(429, 'Plain', 'too many failed authentications: try again later'),
  REQUEST_TIMEOUT: spec(503, 'Unavailable', 'request timed out'),
  KEYSTORE_UNREACHABLE: spec(503, 'Unavailable', 'key store is not reachable'),
  KEYSTORE_STATUS_TIMEOUT: spec(504, 'Unavailable', 'key store is not reachable'),
  // The listener: requests refused before they reach the dispatcher.
  MALFORMED_REQUEST: spec(400, 'Plain', 'malformed HTTP request'),
  HEADERS_TOO_LARGE: spec(431, 'Plain', 'request header fields too large'),
  REQUEST_READ_TIMEOUT: spec(408, 'Plain', 'request timed out'),
  PLAIN_HTTP: spec(400, 'Plain', 'this is a TLS port: use https://'),
  // Credentials.
  TOKEN_REQUIRED: spec(403, 'NotAuthorized', 'not authorized: a token is required (Authorization: Bearer <token>)'),
  INVALID_TOKEN: spec(403, 'NotAuthorized', 'not authorized: invalid, expired or revoked token'),
  PERMISSION_DENIED: spec(403, 'NotAuthorized', 'permission denied'),
  SESSION_ENDED: spec(403, 'NotAuthorized', 'not authorized: the dashboard session expired or was revoked; log in again'),
  SESSION_CROSS_ORIGIN: spec(403, 'NotAuthorized', "not authorized: a session cookie is only accepted from the dashboard's own origin"),
  SESSION_CSRF_REQUIRED: spec(403, 'NotAuthorized', 'not authorized: a write of a dashboard session needs its CSRF token (X-Keygate-CSRF)'),
  NODE_BANNED: spec(403, 'NotAuthorized', 'not authorized: node is banned'),
  CALLBACK_REFUSED: spec(403, 'NotAuthorized', 'not authorized: node refused by the group manager'),
  CALLBACK_UNKNOWN_NODE: spec(403, 'NotAuthorized', 'not authorized: node unknown to the group manager'),
  ASSIGN_NEEDS_READ: spec(403, 'NotAuthorized', 'not authorized: assigning a bundle requires the right to read it (/v1/cert/get/<bundle>)'),
  // Keys (the KES surface: an existing key is a 400).
  KEY_EXISTS: spec(400, 'Exists', 'key already exists'),
  KEY_NOT_FOUND: spec(404, 'NotFound', 'key does not exist'),
  KEY_VERSION_CONFLICT: spec(409, 'Conflict', 'key was changed concurrently: try again'),
  KEY_NO_HMAC: spec(409, 'Conflict', 'key does not support HMAC'),
  // Names the ciphers it takes, never the one sent (a key pasted into `cipher` must not come back).
  UNSUPPORTED_CIPHER: spec(406, 'NotAcceptable', 'unsupported cipher: use AES256, AES256-GCM_SHA256, ChaCha20 or XCHACHA20-POLY1305'),
  INVALID_KEY_SIZE: spec(406, 'NotAcceptable', 'invalid key size: must be 256 bits'),
  POLICY_NOT_FOUND: spec(404, 'NotFound', 'policy does not exist'),
  IDENTITY_NOT_FOUND: spec(404, 'NotFound', 'identity does not exist'),
  // Bundles, groups, nodes, tokens.
  BUNDLE_EXISTS: spec(409, 'Exists', 'bundle already exists'),
  BUNDLE_NOT_FOUND: spec(404, 'NotFound', 'bundle does not exist'),
  BUNDLE_IN_USE: spec(409, 'Conflict', 'bundle is assigned to groups (%s): unassign it first or force the deletion'),
  NO_BUNDLE_FOR_SERVER_NAME: spec(404, 'NotFound', 'no bundle matches the server name'),
  VERSION_CONFLICT: spec(409, 'Conflict', '%s was changed concurrently'),
  RETRIES_EXHAUSTED: spec(409, 'Conflict', '%s was changed concurrently too often; retry'),
  INDEX_ENTRY_EXISTS: spec(400, 'Exists', 'bundle index entry exists'),
  INDEX_ENTRY_NOT_FOUND: spec(404, 'NotFound', 'bundle index entry does not exist'),
  GROUP_EXISTS: spec(409, 'Exists', 'group already exists'),
  GROUP_NOT_FOUND: spec(404, 'NotFound', 'group does not exist'),
  GROUP_FULL: spec(409, 'Conflict', 'a group holds at most %s bundles'),
  RECORD_EXISTS: spec(409, 'Exists', '%s already exists'),
  RECORD_NOT_FOUND: spec(404, 'NotFound', '%s does not exist'),
  NODE_NOT_FOUND: spec(404, 'NotFound', 'node does not exist'),
  NODE_NOT_BANNED: spec(404, 'NotFound', 'node is not banned'),
  TOKEN_EXISTS: spec(409, 'Exists', 'token already exists'),
  TOKEN_NOT_FOUND: spec(404, 'NotFound', 'token does not exist'),
  CALLBACK_FAILED: spec(502, 'Unavailable', '%s'),
  // PKI.
  CA_EXISTS: spec(400, 'Exists', 'CA exists'),
  CA_NOT_FOUND: spec(404, 'NotFound', 'CA not found'),
  CA_MALFORMED: spec(502, 'Unavailable', 'the stored CA is malformed'),
  CRL_BUSY: spec(502, 'Unavailable', 'the revocation list is too busy: try again'),
  CERTIFICATE_RECORDED: spec(409, 'Exists', 'certificate already recorded'),
  CERTIFICATE_NOT_FOUND: spec(404, 'NotFound', 'certificate not found'),
  CERTIFICATE_NOT_ISSUED_HERE: spec(404, 'NotFound', 'certificate not found (never issued here, or expired and pruned)'),
  REVOKE_DENIED: spec(403, 'NotAuthorized', "not authorized: only the certificate's requester or the admin may revoke it"),
  ROLE_NOT_FOUND: spec(404, 'NotFound', "role '%s' does not exist"),
  ISSUER_NOT_FOUND: spec(404, 'NotFound', "issuer '%s' does not exist"),
  VAULT_PKI_NO_KEY: spec(502, 'Unavailable', 'vault PKI answered without a private key'),
  VAULT_PKI_NO_CERTIFICATE: spec(502, 'Unavailable', 'vault PKI answered without a certificate'),
  VAULT_PKI_NO_CA: spec(502, 'Unavailable', 'vault PKI has no CA certificate (generate or set one at the mount)'),
  VAULT_PKI_NO_CRL: spec(502, 'Unavailable', 'vault PKI answered without a CRL'),
  VAULT_PKI_STATUS: spec(502, 'Unavailable', 'vault PKI failed: %s'),
  VAULT_PKI_FAILED: spec(502, 'Unavailable', 'vault PKI failed'),
  VAULT_PKI_UNREACHABLE: spec(503, 'Unavailable', 'vault PKI is not reachable'),
  // The RKS surface, in RKS's own words.
  RKS_NO_ROUTE: spec(404, 'Plain', 'No Route'),
  RKS_BAD_ESCAPE: spec(400, 'Plain', 'invalid URL escape'),
  RKS_BAD_ENCODING: spec(400, 'Plain', 'Content-Encoding Header not valid'),
  RKS_BAD_CONTENT_TYPE: spec(415, 'Plain', 'Content-Type Header not valid'),
  RKS_TOKEN_REQUIRED: spec(403, 'NotAuthorized', 'X-Vault-Token not found'),
  RKS_ADMIN_NOT_CONFIGURED: spec(403, 'NotAuthorized', 'RKS admin login is not configured (rks.admin)'),
  RKS_READ_DENIED: spec(403, 'NotAuthorized', 'read secret: vault unauthorized'),
  RKS_RENEW_DENIED: spec(403, 'NotAuthorized', '{"errors":["permission denied"]}'),
  RKS_RENEW_GROUP_TOKEN: spec(403, 'NotAuthorized', 'permission denied: rotate the group token instead'),
  RKS_BAD_NODE_ID: spec(404, 'Plain', 'Invalid or non existend X-LCDN-nodeId'),
  RKS_NODE_REFUSED: spec(403, 'NotAuthorized', 'node %s not Allowed'),
  RKS_NODE_UNKNOWN: spec(403, 'NotAuthorized', 'node %s not found'),
  RKS_ALREADY_INITIALIZED: spec(409, 'Plain', 'RKS already initialized'),
  RKS_NOT_INITIALIZED: spec(404, 'NotFound', 'RKS is not initialized'),
  RKS_GROUP_NOT_FOUND: spec(404, 'NotFound', 'Group not found'),
  RKS_GROUP_EXISTS: spec(409, 'Plain', 'Conflict, Group with this name already exists, unable to create group'),
  RKS_GROUP_TOKEN_UNREADABLE: spec(
    410,
    'Plain',
    'the group token cannot be read back (keygate stores only its hash): rotate it with PUT /rks/v1/group/<group>/grouptoken',
  ),
  RKS_SECRET_NOT_FOUND: spec(404, 'NotFound', '%s'),
  RKS_SECRET_EXISTS: spec(409, 'Plain', 'secret already exist'),
  RKS_SECRET_ASSOCIATED: spec(409, 'Plain', '%s already associated to %s'),
  RKS_SECRET_IN_USE: spec(409, 'Plain', '%s still associated to at least one group'),
  RKS_RETRY_LATER: spec(423, 'Plain', '%s, please retry later'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The response header of every error answer that names its code (src/server/respond.ts writes it, src/client reads it). */
export const ERROR_CODE_HEADER = 'Keygate-Error-Code';

/** The code's message: its template with each `%s` replaced by the next argument. */
export function errorMessage(code: ErrorCode, args: readonly (string | number)[] = []): string {
  let i = 0;
  return ERROR_CODES[code].message.replace(/%s/g, () => String(args[i++] ?? ''));
}
