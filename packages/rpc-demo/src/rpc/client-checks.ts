// The client's own calls on a connection, apart from the caller's: the hello that negotiates the wire
// extensions after each dial, the $health ping of a connection whose calls keep timing out, and the
// $health probe of an ejected server. Each is an internal Call (no balancing, retries or outlier
// accounting); the client arms its timer and sends it.
import { RemoteError } from '../errors.js';
import { type Call, type RpcLink, newCall } from './client-link.js';
import { HEALTH, HELLO, HELLO_VERSION, announcedIdempotent, announcesExtensions } from './extensions.js';

/**
 * Calls timed out in a row on one connection, with no reply between, after which the connection is
 * checked: a $health call that gets no answer within PING_TIMEOUT closes it (it is jammed, or its
 * server is gone without a FIN), and it is dialed again. An answer (slow handlers, not a dead
 * connection) keeps it.
 */
export const TIMEOUTS_BEFORE_PING = 16;
export const PING_TIMEOUT = 2000;
/** The hello's bound when the client's default timeout is 0 (none). */
export const HELLO_TIMEOUT = 10_000;

/** The hello on `link`: its answer says whether the server speaks the extensions and which methods are idempotent. */
export function helloCall(link: RpcLink, timeout: number, resolve: () => void, reject: (err: unknown) => void): Call {
  return newCall(HELLO, [HELLO_VERSION], null, null, timeout, false, false, true,
    (result) => {
      if (announcesExtensions(result)) {
        link.ext = true;
        link.idempotent = announcedIdempotent(result);
      }
      resolve();
    },
    (err) => {
      // A plain peer answers with its unknown-method error: no extensions, nothing wrong.
      if (err instanceof RemoteError && err.code !== 'ERR_FRAMING_MISMATCH' && err.code !== 'ERR_MESSAGE_TOO_LARGE') resolve();
      else reject(err);
    });
}

/** A ping: any answer, an error included, shows the connection is alive. */
export function pingCall(resolve: (alive: boolean) => void): Call {
  return newCall(HEALTH, [], null, null, PING_TIMEOUT, false, false, true, () => resolve(true), (err) => resolve(err instanceof RemoteError));
}

/** A probe: the server is serving (a plain MessagePack-RPC server, which knows no $health, counts as serving). */
export function probeCall(timeout: number, resolve: (serving: boolean) => void): Call {
  return newCall(HEALTH, [], null, null, timeout, false, false, true, (r) => resolve((r as { status?: unknown } | null)?.status === 'serving'), (err) => resolve(err instanceof RemoteError && err.code === 'ERR_METHOD_NOT_FOUND'));
}
