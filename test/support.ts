// Utilities shared by the cross-package tests: they live in the private @nocopy/test-kit package.
export { sleep, within, until, readFrameFrom } from '@nocopy/test-kit';
import { lengthField } from '@nocopy/transport';
import { frameEcho } from '@nocopy/test-kit';

/** The tests' frames: a 4-byte big-endian length, then the payload. */
export const frames = lengthField({ maxFrameLength: 1 << 30 });

/** Length-prefixed echo: every complete frame goes back; a partial frame waits. */
export const lengthPrefixedEcho = frameEcho(frames);
