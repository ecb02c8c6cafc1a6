/**
 * A strict PEM reader (RFC 7468): finds every `-----BEGIN X-----` …
 * `-----END X-----` block, checks the labels match and the body is base64, and
 * returns the DER bytes. Text between blocks is ignored, as OpenSSL does
 * (`openssl x509 -text` output, bag attributes), but a block that is cut off or
 * garbled is an error naming the block, never silently skipped.
 */

export interface PemBlock {
  /** 1-based position in the input, for error messages. */
  readonly index: number;
  readonly label: string;
  /** RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`), which only legacy encrypted keys carry. */
  readonly headers: ReadonlyMap<string, string>;
  readonly der: Buffer;
}

/** A PEM problem; the message names the block and is safe to show (it never quotes the body). */
export class PemError extends Error {}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]{1,64})-----$/;
const END = /^-----END ([A-Z0-9 ]{1,64})-----$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;
const HEADER = /^([A-Za-z0-9-]+):\s*(.*)$/;

/** Parses every block of `text`, in order. @throws PemError for a truncated or malformed block, or when there is none. */
export function parsePem(text: string): PemBlock[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const blocks: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i] as string);
    if (!begin) continue;
    const label = begin[1] as string;
    const index = blocks.length + 1;
    const end = findEnd(lines, i + 1, index);
    blocks.push(decodeBlock(lines.slice(i + 1, end), label, index));
    const endLabel = END.exec(lines[end] as string)?.[1];
    if (endLabel !== label) throw new PemError(`PEM block ${index} begins with '${label}' but ends with '${endLabel ?? ''}'`);
    i = end;
  }
  if (blocks.length === 0) throw new PemError('no PEM block found');
  return blocks;
}

function findEnd(lines: string[], from: number, index: number): number {
  for (let j = from; j < lines.length; j++) {
    const line = lines[j] as string;
    if (END.test(line)) return j;
    if (BEGIN.test(line)) break;
  }
  throw new PemError(`PEM block ${index} is truncated (no END line)`);
}

function decodeBlock(body: string[], label: string, index: number): PemBlock {
  const headers = new Map<string, string>();
  let at = 0;
  // Headers come first and end with a blank line (RFC 1421); RFC 7468 blocks have none.
  if (body.length > 0 && HEADER.test(body[0] as string)) {
    for (; at < body.length && body[at] !== ''; at++) {
      const m = HEADER.exec(body[at] as string);
      if (!m) throw new PemError(`PEM block ${index} has a malformed header`);
      headers.set((m[1] as string).toLowerCase(), m[2] as string);
    }
  }
  const b64 = body.slice(at).join('');
  if (b64 === '' || !body.slice(at).every((l) => BASE64_LINE.test(l)) || b64.length % 4 !== 0 || /=[^=]/.test(b64)) {
    throw new PemError(`PEM block ${index} is not valid base64`);
  }
  return { index, label, headers, der: Buffer.from(b64, 'base64') };
}

/** The RFC 7468 text of `der` under `label`: 64-character lines, trailing newline. */
export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
