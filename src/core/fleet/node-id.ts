/**
 * What a node id is: the one decision every surface (keygate's API, the RKS API,
 * enrollment, bans) and the callback URL builder share.
 *
 * 1–128 printable ASCII characters without spaces (RKS's `[a-zA-Z0-9-]{1,64}`
 * fits), and never a dot segment in any spelling ('.', '..', '%2e', '.%2E', …):
 * the id is sent to the group manager as one path segment, and a URL parser
 * resolves a dot segment to the manager's collection or its parent, so the
 * manager would be asked about something that is not the node.
 */
import { BadRequestError } from '../../errors.js';

const PRINTABLE = /^[\x21-\x7e]{1,128}$/;

export const NODE_ID_RULES = "node id must be 1–128 printable ASCII characters without spaces, and not '.' or '..' (in any spelling)";

export function isValidNodeId(id: string): boolean {
  if (typeof id !== 'string' || !PRINTABLE.test(id)) return false;
  // WHATWG URL parsers treat '%2e' (any case) in a path segment as '.'.
  const dots = id.replace(/%2e/gi, '.');
  return dots !== '.' && dots !== '..';
}

/** @throws BadRequestError with NODE_ID_RULES */
export function checkNodeId(id: string): void {
  if (!isValidNodeId(id)) throw new BadRequestError(NODE_ID_RULES);
}
