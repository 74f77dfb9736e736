// The session server: an EventLoop whose connections are sessions. Each accepted connection gets a
// Session as its ctx, onOpen runs as the connection's onConnect, and the session's input loop is
// the onRequest of every connection (one shared function, no closure per connection).
import type { Connection } from '../connection/connection.js';
import { InvalidOptionError } from '../errors.js';
import { EventLoop, type EventLoopOptions, type EventLoopStats, type ShutdownOptions } from '../eventloop.js';
import { ServerFront } from '../server-front.js';
import { type SessionOptions, resolveSessionOptions } from './config.js';
import { Session, kFail, kInput, kOpen } from './session.js';
import { SessionSet } from './set.js';

export type SessionServerOptions<In, Out = In> = SessionOptions<In, Out> &
  Omit<EventLoopOptions<Session<In, Out>>, 'onPrepare' | 'onConnect' | 'onError' | 'onDisconnect' | 'idleTimeout'>;

export interface SessionServerStats extends EventLoopStats {
  /** Sessions open now (onClose not yet run). */
  sessions: number;
  /** Sessions whose onClose has run. */
  sessionsClosed: number;
}

function onRequest(session: Session<any, any>): void | Promise<void> {
  return session[kInput]();
}

function onConnect(session: Session<any, any>): void | Promise<void> {
  return session[kOpen]();
}

function onError(err: unknown, conn: Connection<Session<any, any>>): void {
  // Errors the connection meets (input limits, read timeouts): the session's, and it closes.
  const s = conn.ctx;
  if (s !== undefined) s[kFail](err);
}

export class SessionServer<In = unknown, Out = In> extends ServerFront {
  readonly #loop: EventLoop<Session<In, Out>>;
  readonly #sessions: SessionSet<In, Out>;

  constructor(options: SessionServerOptions<In, Out>) {
    const { codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel, ...loopOptions } = options as SessionServerOptions<In, Out> & { idleTimeout?: number };
    if (heartbeat !== undefined && heartbeat !== null && typeof heartbeat === 'object' && !('message' in heartbeat)) {
      throw new InvalidOptionError('heartbeat.message', undefined, 'the heartbeat message');
    }
    const cfg = resolveSessionOptions({ codec, listener, cronPeriod, heartbeat, idleTimeout, maxInFlight, wheel });
    const sessions = new SessionSet<In, Out>();
    const loop = new EventLoop<Session<In, Out>>(onRequest, {
      ...loopOptions,
      onPrepare: (conn) => {
        const s = new Session<In, Out>(conn, cfg, sessions);
        sessions.add(s);
        return s;
      },
      onConnect,
      onError,
    });
    super(loop);
    this.#sessions = sessions;
    this.#loop = loop;
  }

  /** The EventLoop underneath (its stats, limits and servers). */
  get eventLoop(): EventLoop<Session<In, Out>> {
    return this.#loop;
  }

  /** The open sessions (onClose not yet run), in the order they were accepted. */
  sessions(): IterableIterator<Session<In, Out>> {
    return this.#sessions.values();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Sends `message` to every active session (that `filter` accepts); returns how many it went to. */
  broadcast(message: Out, filter?: (s: Session<In, Out>) => boolean): number {
    return this.#sessions.broadcast(message, filter);
  }

  stats(): SessionServerStats {
    return { ...this.#loop.stats(), sessions: this.#sessions.size, sessionsClosed: this.#sessions.closed };
  }

  /**
   * The EventLoop's shutdown (stop accepting, let messages in progress finish, then close), and it
   * resolves once every session's onClose has run.
   */
  protected stopServer(options: ShutdownOptions): Promise<void> {
    // Not async: the loop throws InvalidOptionError for bad options synchronously (nothing is stopped).
    return this.#loop.shutdown(options).then(() => this.#sessions.whenEmpty());
  }
}

export function createSessionServer<In, Out = In>(options: SessionServerOptions<In, Out>): SessionServer<In, Out> {
  return new SessionServer<In, Out>(options);
}
