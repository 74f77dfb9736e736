// The wire extensions (cancel, deadline, metadata), negotiated so that a plain MessagePack-RPC peer
// (Neovim, any msgpack-rpc library) never sees anything but standard messages:
//   1. on each new connection our client sends a standard request [0, id, "$/nocopy", [1]];
//      a plain server answers it like any unknown method (an error), ours with
//      { nocopy: 1, ext: ["cancel", "deadline", "metadata"] };
//   2. only then, and only to such a server, a request may carry a fifth element: the ms the caller
//      waits (an integer, the common case: 3 bytes), or with metadata a map
//      [0, id, method, params, { t?: ms, m?: { key: "value" } }];
//   3. and a call given up (aborted, timed out) is followed by the notification [2, "$/cancel", [id]];
//   4. a server that begins to shut down sends [2, "$/drain", []] to such a client: it sends no new
//      call on that connection, and closes it once the calls it sent there are answered (the server
//      keeps reading and answering until then). The hello's answer may list the methods the server
//      registered as idempotent ({ idem: [...] }): the client may retry those elsewhere.
// Besides, every server answers the standard request "$health" with { status: "serving" | "draining" }.
// Method names starting with "$/" are reserved for this: register() refuses them.
import { MalformedMessageError } from '../errors.js';

export const HELLO = '$/nocopy';
export const CANCEL = '$/cancel';
export const DRAIN = '$/drain';
/** The health method every server answers (a plain request: probes of any MessagePack-RPC client may call it). */
export const HEALTH = '$health';
export const RESERVED_PREFIX = '$/';
export const EXTENSIONS: readonly string[] = Object.freeze(['cancel', 'deadline', 'metadata']);
/** The hello's param: the version of these extensions the client speaks. */
export const HELLO_VERSION = 1;

/** What our server answers to the hello: the extensions, and its idempotent methods when it has some. */
export function helloResult(idempotent: readonly string[] = []): { nocopy: number; ext: readonly string[]; idem?: readonly string[] } {
  return idempotent.length === 0 ? { nocopy: HELLO_VERSION, ext: EXTENSIONS } : { nocopy: HELLO_VERSION, ext: EXTENSIONS, idem: idempotent };
}

/** The idempotent methods a hello's answer lists (null: none, or not a list of strings). */
export function announcedIdempotent(result: unknown): ReadonlySet<string> | null {
  const idem = (result as { idem?: unknown }).idem;
  if (!Array.isArray(idem) || idem.length === 0 || !idem.every((m) => typeof m === 'string')) return null;
  return new Set(idem as string[]);
}

/** Whether a hello's result comes from a server with the extensions (anything else: a plain peer). */
export function announcesExtensions(result: unknown): boolean {
  if (result === null || typeof result !== 'object') return false;
  const r = result as { nocopy?: unknown; ext?: unknown };
  return r.nocopy === HELLO_VERSION && Array.isArray(r.ext) && EXTENSIONS.every((e) => (r.ext as unknown[]).includes(e));
}

/** String metadata of a call: trace ids, auth tokens. */
export type Metadata = Readonly<Record<string, string>>;

/** A request's fifth element, decoded and checked. */
export interface RequestExtension {
  /** ms the caller waits at most, from when it sent the request; undefined = no deadline. */
  timeout: number | undefined;
  metadata: Metadata;
}

/** Metadata entries per call at most (the message size bounds their bytes). */
export const MAX_METADATA_ENTRIES = 64;

export const NO_METADATA: Metadata = Object.freeze(Object.create(null) as Record<string, string>);

const NO_EXTENSION: RequestExtension = Object.freeze({ timeout: undefined, metadata: NO_METADATA });

/**
 * Checks a request's fifth element (nil, a timeout in ms, or a map of known keys); throws
 * MalformedMessageError. A timeout alone stays a number (nothing allocated per call).
 */
export function readExtension(v: unknown): RequestExtension | number {
  if (v === null || v === undefined) return NO_EXTENSION;
  if (typeof v === 'number') return checkTimeout(v);
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Date || v instanceof Map) throw new MalformedMessageError('request extension is not a map');
  const o = v as { t?: unknown; m?: unknown };
  let timeout: number | undefined;
  let metadata = NO_METADATA;
  for (const k in o) if (k !== 't' && k !== 'm') throw new MalformedMessageError(`unknown request extension ${JSON.stringify(k)}`);
  if (o.t !== undefined && o.t !== null) timeout = checkTimeout(o.t);
  if (o.m !== undefined && o.m !== null) metadata = readMetadata(o.m, MalformedMessageError);
  return timeout === undefined && metadata === NO_METADATA ? NO_EXTENSION : { timeout, metadata };
}

function checkTimeout(t: unknown): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 2 ** 31 - 1) throw new MalformedMessageError('request deadline is not an integer number of ms');
  return t;
}

/** A frozen copy of string-to-string metadata; throws `Err` (MalformedMessageError or InvalidOptionError-like) otherwise. */
export function readMetadata(v: unknown, Err: new (detail: string) => Error): Metadata {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Date || v instanceof Map) throw new Err('metadata is not a map of strings');
  const out = Object.create(null) as Record<string, string>;
  let n = 0;
  for (const k of Object.keys(v)) {
    const s = (v as Record<string, unknown>)[k];
    if (typeof s !== 'string') throw new Err(`metadata ${JSON.stringify(k)} is not a string`);
    if (++n > MAX_METADATA_ENTRIES) throw new Err(`more than ${MAX_METADATA_ENTRIES} metadata entries`);
    out[k] = s;
  }
  return n === 0 ? NO_METADATA : Object.freeze(out);
}
