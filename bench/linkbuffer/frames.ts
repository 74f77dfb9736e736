// Section 1, frame parsing: every parser on the same pre-chunked streams, checked to agree first.
import type { Case } from '../lib/suite.js';
import { parsers } from './parsers.js';
import { FrameSink, makeFrameStream, type FrameStream } from './stream.js';

/** Payload sizes measured, and the group name of each. */
export const FRAME_PAYLOADS = [16, 1024, 64 * 1024] as const;
export const frameGroup = (payload: number): string =>
  `frames ${payload >= 1024 ? `${payload / 1024} KiB` : `${payload} B`}`;

/** Stream size per payload size: large enough for hundreds of chunks of up to 64 KiB. */
const STREAM_BYTES = 4 * 1024 * 1024;

/** Throws unless every parser yields exactly the frames that were written. */
function verify(s: FrameStream): void {
  const sink = new FrameSink(true);
  for (const p of parsers) {
    sink.reset();
    p.parse(s.chunks, sink);
    if (sink.frames !== s.frames || sink.sum !== s.expected.sum || sink.digest !== s.expected.digest) {
      throw new Error(
        `${p.name} parser disagrees on ${frameGroup(s.payload)}: ${sink.frames} frames, sum ${sink.sum}, ` +
          `digest ${sink.digest}; expected ${s.frames}, ${s.expected.sum}, ${s.expected.digest}`,
      );
    }
  }
}

export function frameCases(): Case[] {
  const cases: Case[] = [];
  for (const payload of FRAME_PAYLOADS) {
    const s = makeFrameStream(payload, STREAM_BYTES, 0x5eed + payload);
    verify(s);
    console.log(
      `${frameGroup(payload)}: ${s.frames} frames, ${s.bytes} bytes in ${s.chunks.length} chunks ` +
        `(mean ${Math.round(s.bytes / s.chunks.length)} B); all parsers agree`,
    );
    for (const p of parsers) {
      const sink = new FrameSink();
      const { chunks } = s;
      cases.push({
        group: frameGroup(payload),
        name: p.name,
        units: s.frames,
        unit: 'frame',
        bytes: s.bytes,
        fn: () => {
          sink.reset();
          p.parse(chunks, sink);
          if (sink.frames !== s.frames) throw new Error(`${p.name}: ${sink.frames} frames, expected ${s.frames}`);
          return sink.sum;
        },
      });
    }
  }
  return cases;
}
