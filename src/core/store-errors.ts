/**
 * Translates keystore failures into API errors. Services call this at their
 * edge so handlers only ever see KeygateErrors with stable messages.
 */
import { ExistsError, KeygateError, NotFoundError, UnavailableError, BadRequestError } from '../errors.js';
import {
  EntryExistsError,
  EntryNotFoundError,
  InvalidEntryNameError,
  StoreUnreachableError,
} from '../../keystores/keystore.js';

export interface StoreErrorTexts {
  /** e.g. 'key already exists' */
  exists: string;
  /** e.g. 'key does not exist' */
  notFound: string;
  /** e.g. 'failed to create key' — any other backend failure, as a 502 */
  failed: string;
  /** Status for an existing entry: 400 on KES routes, 409 elsewhere. */
  existsStatus?: number;
}

export function translateStoreError(err: unknown, texts: StoreErrorTexts): KeygateError {
  if (err instanceof KeygateError) return err;
  if (err instanceof EntryExistsError) return new ExistsError(texts.exists, texts.existsStatus ?? 400);
  if (err instanceof EntryNotFoundError) return new NotFoundError(texts.notFound);
  if (err instanceof InvalidEntryNameError) return new BadRequestError('invalid name');
  if (err instanceof StoreUnreachableError) {
    return new UnavailableError('key store is not reachable', 503, { cause: err });
  }
  return new UnavailableError(texts.failed, 502, { cause: err });
}
