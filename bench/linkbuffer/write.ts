// Section 3, the write path: a batch of small messages (u32 length header, short string, small
// binary; 16-200 B each) written into a LinkBuffer and handed out as views for a writev, against
// collecting Buffers and Buffer.concat-ing them. Both produce the same bytes, checked first.
import { LinkBuffer } from '@nocopy/linkbuffer';
import type { Case } from '../lib/suite.js';
import { Rng } from '../lib/rng.js';

export const WRITE_GROUP = 'write 64 small msgs';
const MESSAGES = 64;

interface Message {
  /** Body bytes after the 4-byte header: the string's bytes plus the binary's. */
  readonly body: number;
  readonly str: string;
  readonly bin: Buffer;
}

function makeMessages(rng: Rng): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const total = rng.int(16, 200);
    const strLen = rng.int(4, Math.min(40, total - 8));
    let str = '';
    for (let k = 0; k < strLen; k++) str += String.fromCharCode(rng.int(0x61, 0x7a));
    const bin = Buffer.allocUnsafeSlow(total - 4 - strLen);
    rng.fill(bin);
    out.push({ body: total - 4, str, bin });
  }
  return out;
}

/** Writes the batch, flushes, takes the views a writev would get, then consumes and releases them. */
function writeLinkBuffer(lb: LinkBuffer, msgs: readonly Message[], out?: Buffer[]): number {
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    lb.writeUint32BE(m.body);
    lb.writeString(m.str);
    lb.writeBinary(m.bin);
  }
  lb.flush();
  const views = lb.views();
  let n = 0;
  for (let i = 0; i < views.length; i++) n += views[i]!.length;
  if (out !== undefined) out.push(Buffer.concat(views));
  lb.skip(lb.length);
  lb.release();
  return n;
}

/** Allocates a header per message, encodes the string, and concatenates everything at the end. */
function writeConcat(msgs: readonly Message[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(m.body, 0);
    parts.push(h, Buffer.from(m.str), m.bin);
  }
  return Buffer.concat(parts);
}

export function writeCases(): Case[] {
  const msgs = makeMessages(new Rng(0x3717e));
  const bytes = msgs.reduce((a, m) => a + 4 + m.body, 0);
  const lb = new LinkBuffer();
  const got: Buffer[] = [];
  writeLinkBuffer(lb, msgs, got);
  const want = writeConcat(msgs);
  if (want.length !== bytes || !got[0]!.equals(want)) throw new Error('write path: LinkBuffer and Buffer.concat bytes differ');
  console.log(`${WRITE_GROUP}: ${bytes} bytes per batch; both writers produce the same bytes`);
  const base = { group: WRITE_GROUP, units: 1, unit: 'batch', bytes };
  return [
    { ...base, name: 'LinkBuffer', fn: () => writeLinkBuffer(lb, msgs) },
    { ...base, name: 'Buffer.concat', fn: () => writeConcat(msgs).length },
  ];
}
