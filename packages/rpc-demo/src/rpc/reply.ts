// A response at a writer's tail, with the fallbacks when it cannot be encoded: an error whose `data`
// has no MessagePack form (or is too large) goes without it, and a result (or error) that cannot be
// encoded at all is answered with UnencodableValueError or MessageTooLargeError instead. The caller
// never sees an encoding failure; it learns whether the answer was an error (for its counters).
import { MessageTooLargeError, UnencodableValueError } from '../errors.js';
import type { EncodeTarget } from '../msgpack/encode.js';
import { type Framing, writeMessage, writeResponse } from './protocol.js';
import { errorObject } from './wire-errors.js';

export type ReplyTarget = EncodeTarget & { readonly closed: boolean };

/**
 * Encodes the response to call `id` at the tail of `w` (flushed by the caller): `err` when it is not
 * null or undefined, else `result`. With `keep`, it goes on in the region of the previous response
 * (writeResponse). Returns true when the answer sent is an error. Nothing is written to a closed writer.
 */
export function writeReply(w: ReplyTarget, framing: Framing, id: number, err: unknown, result: unknown, max: number, keep: boolean): boolean {
  const failed = err !== null && err !== undefined;
  try {
    writeResponse(w, framing, id, failed ? errorObject(err) : null, failed ? null : result, max, keep);
    return failed;
  } catch (e) {
    if (w.closed) return failed;
    let why = e;
    if (failed && (err as { data?: unknown }).data !== undefined) {
      // The error's data could not be encoded (too large, or not serializable): the error goes without it.
      try {
        writeMessage(w, framing, [1, id, errorObject(err, `data not sent: ${(e as Error).message}`), null], max);
        return true;
      } catch (e2) {
        if (w.closed) return true;
        why = e2;
      }
    }
    // The result (or the error itself) could not be encoded: answer with that error.
    const what = failed ? 'the error' : 'the result';
    const detail = why instanceof UnencodableValueError ? why.detail : String((why as Error)?.message ?? why);
    writeMessage(w, framing, [1, id, errorObject(why instanceof MessageTooLargeError ? why : new UnencodableValueError(`${what}: ${detail}`)), null], max);
    return true;
  }
}
