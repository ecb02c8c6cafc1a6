/**
 * The keystore entries that decide whether a credential still holds: token records,
 * groups (their generation ends every token and enrollment at a rotation or deletion),
 * node records, enrollments and bans. Revoking, rotating or banning writes one of them,
 * so replicas may serve them from a read cache only briefly (`cache.expiry.credentials`).
 */
export const CREDENTIAL_ENTRY_PREFIXES: readonly string[] = ['token.', 'group.', 'node.', 'member.', 'ban.'];
