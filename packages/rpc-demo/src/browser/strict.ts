// A standard-MessagePack check for the browser client, before msgpackr decodes a reply: every type
// is one of the specification's (ext types only for the timestamp, -1), every length fits inside the
// message, nesting is bounded, and the message is exactly one value. msgpackr alone accepts its own
// extensions (records, bundled strings, structured clone) from the wire; this is what keeps them out.
// No Node built-ins: this file runs in browsers.

export class StrictMessagePackError extends Error {
  readonly code = 'ERR_MALFORMED_MESSAGE';
}
StrictMessagePackError.prototype.name = 'StrictMessagePackError';

const MAX_DEPTH = 64;

/** Throws StrictMessagePackError unless `b` is exactly one standard MessagePack value. */
export function checkStrict(b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // An explicit stack of values still to read; arrays and maps push their element counts.
  let at = 0;
  let pending = 1;
  const stack: number[] = [];
  const need = (n: number) => {
    if (n < 0 || at + n > b.length) throw new StrictMessagePackError(`a length runs past the end of the message at byte ${at}`);
  };
  const container = (count: number) => {
    if (stack.length >= MAX_DEPTH) throw new StrictMessagePackError('nested too deep');
    stack.push(pending);
    pending = count;
  };
  while (pending > 0 || stack.length > 0) {
    if (pending === 0) {
      pending = stack.pop()!;
      continue;
    }
    pending--;
    need(1);
    const t = b[at++]!;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) continue; // fixint, nil, bool
    if (t >= 0xa0 && t <= 0xbf) { need(t & 0x1f); at += t & 0x1f; continue; } // fixstr
    if (t >= 0x90 && t <= 0x9f) { container(t & 0x0f); continue; } // fixarray
    if (t >= 0x80 && t <= 0x8f) { container((t & 0x0f) * 2); continue; } // fixmap
    switch (t) {
      case 0xcc: case 0xd0: need(1); at += 1; break;
      case 0xcd: case 0xd1: need(2); at += 2; break;
      case 0xce: case 0xd2: case 0xca: need(4); at += 4; break;
      case 0xcf: case 0xd3: case 0xcb: need(8); at += 8; break;
      case 0xd9: case 0xc4: { need(1); const n = b[at]!; at += 1; need(n); at += n; break; } // str8, bin8
      case 0xda: case 0xc5: { need(2); const n = v.getUint16(at); at += 2; need(n); at += n; break; }
      case 0xdb: case 0xc6: { need(4); const n = v.getUint32(at); at += 4; need(n); at += n; break; }
      case 0xdc: { need(2); const n = v.getUint16(at); at += 2; container(n); break; }
      case 0xdd: { need(4); const n = v.getUint32(at); at += 4; if (n > b.length) throw new StrictMessagePackError('an array longer than the message'); container(n); break; }
      case 0xde: { need(2); const n = v.getUint16(at); at += 2; container(n * 2); break; }
      case 0xdf: { need(4); const n = v.getUint32(at); at += 4; if (n > b.length) throw new StrictMessagePackError('a map longer than the message'); container(n * 2); break; }
      // ext: only the standard timestamp (type -1), in its three sizes.
      case 0xd6: need(5); if (b[at] !== 0xff) throw ext(b[at]!); at += 5; break;
      case 0xd7: need(9); if (b[at] !== 0xff) throw ext(b[at]!); at += 9; break;
      case 0xc7: need(2); if (b[at] !== 12 || b[at + 1] !== 0xff) throw ext(b[at + 1]!); at += 2 + 12; need(0); break;
      default:
        throw t === 0xc1 ? new StrictMessagePackError('the never-used byte 0xc1') : ext(t);
    }
  }
  if (at !== b.length) throw new StrictMessagePackError(`${b.length - at} bytes after the message`);
}

function ext(type: number): StrictMessagePackError {
  return new StrictMessagePackError(`an extension type (${type}) that standard MessagePack-RPC does not use`);
}
