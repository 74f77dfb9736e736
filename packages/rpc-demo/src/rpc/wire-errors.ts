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
 * What a handler threw or rejected with, as the call's error: null and undefined (a `throw null`)
 * fail the call too, never answer it with success.
 */
export function thrownValue(v: unknown): unknown {
  return v ?? new Error(`the handler threw ${v === null ? 'null' : 'undefined'}, not an Error`);
}

/**
 * The wire form of a thrown value: code when it is a string, data when the error has one (any
 * MessagePack value). `dataNotSent`: the data could not be encoded; the message says so instead.
 * A thrown plain object (`throw { code, message }`) keeps its string name, message and code and its
 * data; without a message it is described (JSON), never "[object Object]".
 */
export function errorObject(err: unknown, dataNotSent?: string): WireError {
  if (err === null || typeof err !== 'object') return { name: 'Error', message: String(err) };
  const e = err as { name?: unknown; message?: unknown };
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? e.message : err instanceof Error ? String(e.message ?? '') : describe(err);
  const o: WireError = { name, message: dataNotSent === undefined ? message : `${message} (${dataNotSent})` };
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
