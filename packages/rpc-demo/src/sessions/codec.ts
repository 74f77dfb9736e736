// The session codecs of RPC peers. Input that does not decode is not thrown to the session (which
// would close at once): it becomes a Refused message, so that the server answers the request with
// the error when its id could be read, finishes the calls decoded before, and then ends the peer.
import type { Codec } from '@nocopy/transport';
import { decode } from '../msgpack/decode.js';
import { validate } from '../rpc/protocol.js';
import { type PeerInput, Refused } from './peer.js';
import { kPeer } from './peers.js';

/** Over a byte stream (TCP, TLS, Unix): the peer's MessageReader in the server's framing, one message per decode. */
export function streamCodec(max: number): Codec<PeerInput, Uint8Array> {
  return {
    maxMessageLength: max,
    decode(r, session) {
      const st = session.attributes.get(kPeer)!;
      if (st.failed !== null) {
        // After refused input nothing more is decoded; the calls before it finish, then the peer ends.
        r.skip(r.length);
        return undefined;
      }
      try {
        return st.messages.next(r);
      } catch (err) {
        r.skip(r.length);
        return new Refused(err);
      }
    },
    // The reply's bytes, framed as the server frames (writeReply wrote the prefix when 'framed').
    encode: (m, w) => w.writeBinary(m),
  };
}

/** One message per WebSocket message (no length prefix), decoded and shape-checked with the server's limits. */
export function messageCodec(max: number): Codec<PeerInput, Uint8Array> {
  // As MessageReader allows: arrays and maps per message at most (decoding cost grows with them).
  const containers = Math.max(65_536, Math.floor(max / 16));
  return {
    maxMessageLength: max,
    decode(r, session) {
      if (r.length === 0) return undefined;
      const bytes = r.next(r.length);
      if (session.attributes.get(kPeer)!.failed !== null) return undefined;
      try {
        return validate(decode(bytes, containers));
      } catch (err) {
        return new Refused(err);
      }
    },
    encode: (m, w) => w.writeBinary(m),
  };
}
