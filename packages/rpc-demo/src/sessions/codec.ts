// The session codecs of RPC peers. Input that does not decode is not thrown to the session (which
// would close at once): it becomes a Refused message, so that the server answers the request with
// the error when its id could be read, finishes the calls decoded before, and then ends the peer.
import type { Codec, FrameWriter } from '@nocopy/transport';
import { decode } from '../msgpack/decode.js';
import { endResponses, validate } from '../rpc/protocol.js';
import { type PeerInput, type PeerOutput, ReplyBox, Refused } from './peer.js';
import { type ReplyTarget, writeReply } from '../rpc/reply.js';
import { kPeer } from './peers.js';

/** Over a byte stream (TCP, TLS, Unix): the peer's MessageReader in the server's framing, the messages of a read as one Batch. */
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
      // Every complete message of this read in one pass (the batch is empty: the last one was delivered).
      const b = st.batch;
      try {
        st.messages.read(r, b.add);
      } catch (err) {
        r.skip(r.length);
        if (b.messages.length === 0) return new Refused(err);
        b.refused = err; // after the messages before it
      }
      return b.messages.length === 0 ? undefined : b;
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
  if (m instanceof ReplyBox) m.failed = writeReply(w as unknown as ReplyTarget, m.framing, m.id, m.err, m.result, m.max, m.keep);
  else {
    endResponses(); // a batch's open region ends before other bytes
    w.writeBinary(m);
  }
}
