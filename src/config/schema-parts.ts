/** JSON Schema pieces that more than one part of the configuration uses (the server's, the PKI's). */

/** Go's time.ParseDuration spelling, as KES writes durations: `90s`, `1h30m`, `0`. */
export const duration = { type: 'string', pattern: '^(0|([0-9]+(\\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$' } as const;
export const nonEmpty = { type: 'string', minLength: 1 } as const;

/** Vault AppRole login: a role id and secret id, at an auth mount, optionally in a namespace. */
export const vaultAppRole = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'secret'],
  properties: { namespace: { type: 'string' }, engine: { ...nonEmpty, default: 'approle' }, id: nonEmpty, secret: nonEmpty },
} as const;
