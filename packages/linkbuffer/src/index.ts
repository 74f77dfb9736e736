export { LinkBuffer, type LinkBufferOptions, type Delimiter } from './linkbuffer.js';
export { BlockPool, Block, Slab, defaultPool, type BlockPoolOptions, type BlockPoolStats } from './block-pool.js';
export {
  LinkBufferError,
  ShortBufferError,
  BufferClosedError,
  InvalidSizeError,
  InvalidOptionError,
  MallocAckError,
  BlockReleasedError,
} from './errors.js';
