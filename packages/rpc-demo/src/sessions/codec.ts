// The session codecs of RPC peers. Input that does not decode is not thrown to the session (which
// would close at once): it becomes a Refused message, so that the server answers the request with
// the error when its id could be read, finishes the calls decoded before, and then ends the peer.
import type { Codec, FrameWriter } from '@nocopy/transport';
import { decode } from '../msgpack/decode.js';
import { validate } from '../rpc/protocol.js';
import { type PeerInput, type PeerOutput, ReplyBox, Refused } from './peer.js';
import { type ReplyTarget, writeReply } from '../rpc/reply.js';
import { kPeer } from './peers.js';

/** Over a byte stream (TCP, TLS, Unix): the peer's MessageReader in the server's framing, one message per decode. */
export function streamCodec(max: number): Codec<PeerInput, PeerOutput> {
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
    encode,
  };
}

/** One message per WebSocket message (no length prefix), decoded and shape-checked with the server's limits. */
export function messageCodec(max: number): Codec<PeerInput, PeerOutput> {
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
    encode,
  };
}

/**
 * A reply is encoded straight into the session's output (no copy); other bytes the server wrote
 * for the peer (a notice, a refusal's answer) are copied from its buffer. Framed as the server frames.
 */
function encode(m: PeerOutput, w: FrameWriter): void {
  // A ReplyBox is sent over a stream only (SessionPeer), whose writer is the connection's: a LinkBuffer.
  if (m instanceof ReplyBox) m.failed = writeReply(w as unknown as ReplyTarget, m.framing, m.id, m.err, m.result, m.max, false);
  else w.writeBinary(m);
}
