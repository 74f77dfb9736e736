// Session test fixtures: a line codec (messages are strings, one per '\n'), servers on 127.0.0.1:0
// with a recording listener, and a session client on the same codec.
import type { AddressInfo } from 'node:net';
import { RawClient } from './helpers.js';
import {
  type Codec,
  type SessionListener,
  type Session,
  type SessionServer,
  type SessionServerOptions,
  TimingWheel,
  createSessionServer,
  delimiter,
  mapFrames,
} from '../src/index.js';

/** Lines of at most 1 KiB, as strings. */
export function lineCodec(max = 1024): Codec<string> {
  return mapFrames<string>(delimiter({ delimiter: '\n', maxFrameLength: max }), {
    decode: (f) => f.toString('latin1'),
    encode: (m) => Buffer.from(m, 'latin1'),
  }, max);
}

/** A wheel with a fine tick, so that timer tests run fast. */
export function fastWheel(): TimingWheel {
  return new TimingWheel({ tick: 10, slots: 64 });
}

export interface Recorded {
  events: string[];
  sessions: Session<string>[];
  errors: unknown[];
  reasons: unknown[];
}

/** A listener that records every callback as "name:arg" and delegates to `extra`. */
export function recorder(extra: Partial<SessionListener<string>> = {}): { listener: SessionListener<string>; rec: Recorded } {
  const rec: Recorded = { events: [], sessions: [], errors: [], reasons: [] };
  const listener: SessionListener<string> = {
    onOpen(s) {
      rec.sessions.push(s);
      rec.events.push('open');
      return extra.onOpen?.(s);
    },
    onMessage(s, m) {
      rec.events.push(`message:${m}`);
      return extra.onMessage?.(s, m);
    },
    onCron: extra.onCron
      ? (s) => {
          rec.events.push('cron');
          return extra.onCron!(s);
        }
      : undefined,
    onError(s, e) {
      rec.errors.push(e);
      rec.events.push(`error:${(e as { code?: string }).code ?? (e as Error).message}`);
      extra.onError?.(s, e);
    },
    onClose(s, reason) {
      rec.reasons.push(reason);
      rec.events.push('close');
      extra.onClose?.(s, reason);
    },
  };
  return { listener, rec };
}

export async function sessionServer(
  options: Omit<SessionServerOptions<string>, 'codec'> & { codec?: Codec<string> },
): Promise<{ server: SessionServer<string>; port: number }> {
  const server = createSessionServer<string>({ codec: lineCodec(), ...options });
  const addr = (await server.listen()) as AddressInfo;
  return { server, port: addr.port };
}

/** A session server (stopped after the test) and one raw client connected to it. */
export async function serverAndClient(
  t: { after(fn: () => unknown): void },
  options: Parameters<typeof sessionServer>[0],
): Promise<{ server: SessionServer<string>; port: number; c: RawClient }> {
  const { server, port } = await sessionServer(options);
  t.after(() => server.shutdown());
  return { server, port, c: await RawClient.connect(port) };
}

/** A listener that records each message and holds at `blocking` (its onMessage waits) until release(). */
export function gatedListener<T>(blocking: T): { seen: T[]; release: () => void; listener: SessionListener<T> } {
  const seen: T[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const listener: SessionListener<T> = {
    async onMessage(_s, m) {
      seen.push(m);
      if (m === blocking) await gate;
    },
  };
  return { seen, release, listener };
}
