/** Small request helpers of the group and node surfaces. */
import { BadRequestError } from '../../errors.js';

/** Refuses fields a body may not carry, naming the first (bounded, printable). */
export function rejectUnknown(req: Record<string, unknown>, known: Record<string, unknown>): void {
  for (const field of Object.keys(req)) {
    if (!Object.hasOwn(known, field)) throw new BadRequestError(`unknown field '${field.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}'`);
  }
}
