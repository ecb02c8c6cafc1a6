/**
 * Translates keystore failures into API errors. Services call this at their
 * edge so handlers only ever see KeygateErrors with stable messages.
 */
import { KeygateError, UnavailableError, coded, type ErrorCode } from '../errors.js';
import { EntryExistsError, EntryNotFoundError, InvalidEntryNameError, StoreUnreachableError } from '../../keystores/keystore.js';

export interface StoreErrorTexts {
  /** The catalogue's code for an existing entry, e.g. 'KEY_EXISTS' (400 on KES routes, 409 elsewhere). */
  exists: ErrorCode;
  /** The code for a missing entry, e.g. 'KEY_NOT_FOUND'. */
  notFound: ErrorCode;
  /** Arguments of the two codes' templates (RECORD_EXISTS: the kind of record). */
  args?: readonly string[];
  /** e.g. 'failed to create key' — any other backend failure, as a 502 KEYSTORE_FAILED */
  failed: string;
}

export function translateStoreError(err: unknown, texts: StoreErrorTexts): KeygateError {
  if (err instanceof KeygateError) return err;
  if (err instanceof EntryExistsError) return coded(texts.exists, texts.args);
  if (err instanceof EntryNotFoundError) return coded(texts.notFound, texts.args);
  if (err instanceof InvalidEntryNameError) return coded('INVALID_NAME');
  if (err instanceof StoreUnreachableError) return coded('KEYSTORE_UNREACHABLE', [], { cause: err });
  return new UnavailableError(texts.failed, 502, { cause: err, code: 'KEYSTORE_FAILED' });
}
