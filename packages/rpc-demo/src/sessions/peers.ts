// The RpcServer's peers over a session server of any transport: the session listener that makes
// each session a SessionPeer and hands its messages to the server, and the drain at shutdown
// (our clients are told to go, the calls in flight are answered, then the sessions close).
import { AttributeKey, IdleTimeoutError, type SessionListener, type ShutdownOptions } from '@nocopy/transport';
import { checkMs } from '@nocopy/transport/util';
import type { Framing } from '../rpc/protocol.js';
import type { PeerHooks } from '../rpc/peer-state.js';
import { Batch, type PeerInput, type PeerOutput, Refused, SessionPeer } from './peer.js';
import { endResponses } from '../rpc/protocol.js';

export const kPeer = new AttributeKey<SessionPeer>('rpc peer');

export interface Peers {
  readonly listener: SessionListener<PeerInput, PeerOutput>;
  /**
   * Tells our clients to go ("$/drain"), waits for every peer's calls in flight (bounded by
   * `options`), then stops the sessions with `stopSessions`, given the time left.
   */
  stop(options: ShutdownOptions, stopSessions: (options: ShutdownOptions) => Promise<void>): Promise<void>;
}

export function peers(hooks: PeerHooks, framing: Framing): Peers {
  const live = new Set<SessionPeer>();
  const listener: SessionListener<PeerInput, PeerOutput> = {
    onOpen(session) {
      const st = new SessionPeer(session, framing, hooks.maxMessageSize);
      hooks.open(st);
      live.add(st);
      session.attributes.set(kPeer, st);
    },
    onMessage(session, m) {
      const st = session.attributes.get(kPeer)!;
      if (m instanceof Batch) return deliver(st, m);
      if (m instanceof Refused) hooks.refused(st, m.error);
      // Paused at maxInFlight, or the replies wait for the peer to read: no more is decoded until they go.
      else if (!hooks.message(st, m) || st.waiting) return st.whenResumed();
    },
    onError(_session, err) {
      // An idle peer closed at idleTimeout is housekeeping, not an error worth a warning.
      if (!(err instanceof IdleTimeoutError)) hooks.error(err);
    },
    onClose(session) {
      const st = session.attributes.get(kPeer);
      if (st === undefined) return;
      live.delete(st);
      hooks.closed(st);
      st.gone();
    },
  };
  /**
   * A batch's messages, in order; at the server's pause the rest waits for it. Its sync replies share
   * a region of the output, closed before a pause and at its end (before the session flushes).
   */
  function deliver(st: SessionPeer, b: Batch): void | Promise<void> {
    const ms = b.messages;
    st.inBatch = true;
    try {
      while (b.at < ms.length) {
        if (st.isGone) break;
        const m = ms[b.at]!;
        ms[b.at++] = undefined;
        // Paused at maxInFlight, or the replies wait for the peer to read.
        if (!hooks.message(st, m) || st.waiting) {
          endResponses();
          return st.whenResumed().then(() => deliver(st, b));
        }
      }
    } finally {
      st.inBatch = false;
    }
    endResponses();
    ms.length = 0;
    b.at = 0;
    const refused = b.refused;
    b.refused = undefined;
    if (st.isGone) return;
    if (refused !== undefined) hooks.refused(st, refused);
    // The replies wait for the peer to read: no more is decoded until they go.
    else if (st.waiting) return st.whenResumed();
  }

  let stopping: Promise<void> | null = null;
  return {
    listener,
    // Called again (the endpoint's shutdown, then the server's), it returns the same promise.
    stop: (options, stopSessions) => (stopping ??= stop(options, stopSessions)),
  };

  async function stop(options: ShutdownOptions, stopSessions: (options: ShutdownOptions) => Promise<void>): Promise<void> {
    const timeout = checkMs('timeout', options.timeout, 30_000);
    const t0 = Date.now();
    for (const st of live) hooks.drain(st);
    if (live.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const cut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeout);
        onAbort = resolve;
        options.signal?.addEventListener('abort', onAbort, { once: true });
        if (options.signal?.aborted) resolve();
      });
      await Promise.race([Promise.all([...live].map((st) => st.whenIdle())), cut]);
      clearTimeout(timer);
      if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort);
    }
    await stopSessions({ ...options, timeout: Math.max(0, timeout - (Date.now() - t0)) });
  }
}
