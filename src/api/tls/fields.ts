/** Small request helpers of the group and node surfaces. */
import { BadRequestError } from '../../errors.js';

/** Refuses fields a body may not carry, naming the first (bounded, printable). */
export function rejectUnknown(req: Record<string, unknown>, known: Record<string, unknown>): void {
  for (const field of Object.keys(req)) {
    if (!Object.hasOwn(known, field)) throw new BadRequestError(`unknown field '${field.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}'`);
  }
}

/** A percent-decoded path segment (node ids may hold any printable character, '/' as %2F). */
export function pathSegment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(`invalid ${what}: bad percent-encoding`);
  }
}

/** `<group>/<second>` of a two-segment route, the second percent-decoded. */
export function splitPair(resource: string, what: string): [string, string] {
  const cut = resource.indexOf('/');
  if (cut < 0) throw new BadRequestError(`missing ${what}`);
  return [resource.slice(0, cut), pathSegment(resource.slice(cut + 1), what)];
}
