// The session contract: a codec turns a session's input into messages and messages into output.
// A framing codec (lengthField, delimiter) is one whose messages are its frames; frames() makes one
// a session codec, and mapFrames() puts an encoding (JSON, MessagePack, protobuf...) on top.
import type { FrameCodec, FrameReader, FrameWriter } from '../framing/codec.js';
import type { Session } from './session.js';

export interface Codec<In = unknown, Out = In> {
  /**
   * Consumes and returns the next whole message, or returns undefined (consuming nothing) while it
   * is incomplete. Throws on malformed input (a coded error, with a string `code`, or any other
   * error, which the session wraps in MalformedMessageError): the session reports it to onError and closes, after delivering every
   * message decoded before. A length declared above the codec's limit must throw as soon as the
   * header that declares it is readable, so that an oversized message is never buffered.
   * A message may be a view of the input: it stays valid until its onMessage settles.
   */
  decode(reader: FrameReader, session: Session<In, Out>): In | undefined;
  /** Writes `message` at the tail of `writer` (the session sends it, batched with the tick's others). */
  encode(message: Out, writer: FrameWriter, session: Session<In, Out>): void;
  /** The largest message decode() accepts, in bytes, when the codec has one (informational). */
  readonly maxMessageLength?: number;
}

/** The frames of a framing codec as messages (views of the input; see FrameCodec). */
export function frames(framing: FrameCodec<Buffer>, maxMessageLength?: number): Codec<Buffer, Uint8Array> {
  // Bound, not wrapped: the frame codec's methods are the session codec's, one call per message.
  return {
    maxMessageLength,
    decode: framing.decode.bind(framing),
    encode: framing.encode.bind(framing),
  };
}

export interface FrameMapping<In, Out> {
  /** A frame (a view, valid during this call only) to a message. Throw on malformed content. */
  decode(frame: Buffer): In;
  /** A message to the bytes of one frame. */
  encode(message: Out): Uint8Array;
}

/**
 * A codec of messages carried one per frame: `framing` cuts the frames (and enforces its
 * maxFrameLength on the header), `mapping` turns each frame into a message and back.
 * For instance JSON in 4-byte length-prefixed frames:
 * `mapFrames(lengthField({ maxFrameLength: 1 << 20 }), { decode: (f) => JSON.parse(f.toString()), encode: (m) => Buffer.from(JSON.stringify(m)) })`.
 */
export function mapFrames<In, Out = In>(framing: FrameCodec<Buffer>, mapping: FrameMapping<In, Out>, maxMessageLength?: number): Codec<In, Out> {
  return {
    maxMessageLength,
    decode(reader) {
      const frame = framing.decode(reader);
      return frame === undefined ? undefined : mapping.decode(frame);
    },
    encode(message, writer) {
      framing.encode(mapping.encode(message), writer);
    },
  };
}
