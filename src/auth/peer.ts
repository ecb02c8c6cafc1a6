/**
 * The identity of a TLS connection, computed once per connection: parsing the
 * peer certificate costs far more than serving a cached read, and every request
 * on a keep-alive connection presents the same certificate.
 */
import type { TLSSocket } from 'node:tls';
import { BadRequestError, ERROR_CODES } from '../errors.js';
import { identityOfChain, IdentityError } from './identity.js';

const cache = new WeakMap<TLSSocket, string | BadRequestError>();

/** The caller's identity; throws a 400 BadRequestError when no usable client certificate was presented. */
export function peerIdentity(socket: TLSSocket): string {
  let id = cache.get(socket);
  if (id === undefined) {
    id = computeIdentity(socket);
    cache.set(socket, id);
  }
  if (id instanceof BadRequestError) throw id;
  return id;
}

/**
 * Like peerIdentity, but '' when no certificate was presented. A certificate that
 * was presented and cannot be an identity (a CA certificate, undecodable DER)
 * is still refused: presenting one is not the same as presenting none.
 */
export function optionalPeerIdentity(socket: TLSSocket): string {
  try {
    return peerIdentity(socket);
  } catch (err) {
    if (err instanceof BadRequestError && err.code === 'CERTIFICATE_REQUIRED') return '';
    throw err;
  }
}

function computeIdentity(socket: TLSSocket): string | BadRequestError {
  if (typeof socket.getPeerX509Certificate !== 'function') {
    return new BadRequestError('insecure connection: TLS is required');
  }
  // Only the first certificate: the one whose key the handshake proved (see identityOfChain).
  const leaf = socket.getPeerX509Certificate();
  if (!leaf) return new BadRequestError(ERROR_CODES.CERTIFICATE_REQUIRED.message, { code: 'CERTIFICATE_REQUIRED' });
  try {
    return identityOfChain([leaf.raw]);
  } catch (err) {
    if (err instanceof IdentityError) return new BadRequestError(err.message);
    throw err;
  }
}
