// Framing codecs: lengthField and delimiter, and the contract custom codecs follow.
export type { FrameCodec, FrameReader, FrameWriter } from './codec.js';
export { lengthField, type LengthFieldCodec, type LengthFieldOptions } from './length-field.js';
export { delimiter, type DelimiterOptions } from './delimiter.js';
