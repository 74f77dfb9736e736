// Errors on the wire: what a server sends as a response's error, and what a client makes of it.
// A map { name, message, code?, data? } any MessagePack peer can read; other peers send strings or
// [code, message] arrays, which become a RemoteError too.
import { RemoteError } from '../errors.js';

export interface WireError {
  name: string;
  message: string;
  code?: string;
  data?: unknown;
}

/**
 * The wire form of a thrown value: code when it is a string, data when the error has one (any
 * MessagePack value). `dataNotSent`: the data could not be encoded; the message says so instead.
 */
export function errorObject(err: unknown, dataNotSent?: string): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const o: WireError = { name: err.name, message: dataNotSent === undefined ? err.message : `${err.message} (${dataNotSent})` };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') o.code = code;
  const data = (err as { data?: unknown }).data;
  if (data !== undefined && dataNotSent === undefined) o.data = data;
  return o;
}

export function toRemoteError(e: unknown): RemoteError {
  if (e !== null && typeof e === 'object' && !Array.isArray(e)) {
    const o = e as { name?: unknown; message?: unknown; code?: unknown; data?: unknown };
    return new RemoteError(typeof o.name === 'string' ? o.name : 'Error', typeof o.message === 'string' ? o.message : describe(e), typeof o.code === 'string' ? o.code : undefined, o.data ?? undefined);
  }
  // Other MessagePack-RPC peers send strings or [code, message] arrays: the array is the data too.
  return new RemoteError('Error', typeof e === 'string' ? e : describe(e), undefined, Array.isArray(e) ? e : undefined);
}

/** JSON when it can be (a bigint or a cycle cannot): a peer's error must never fail the response. */
function describe(e: unknown): string {
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}
