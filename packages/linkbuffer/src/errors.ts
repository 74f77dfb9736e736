// Coded errors of @nocopy/linkbuffer. The `code` strings are stable API, like Node's own ERR_* codes.

export class LinkBufferError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
LinkBufferError.prototype.name = 'LinkBufferError';

/** A read asked for more bytes than are readable. Nothing was consumed. */
export class ShortBufferError extends LinkBufferError {
  readonly requested: number;
  readonly available: number;
  constructor(requested: number, available: number) {
    super(`need ${requested} readable bytes, have ${available}`, 'ERR_SHORT_BUFFER');
    this.requested = requested;
    this.available = available;
  }
}
ShortBufferError.prototype.name = 'ShortBufferError';

/**
 * An option has a wrong type or range. One class for every nocopy package: @nocopy/transport,
 * @nocopy/rpc-demo and @nocopy/proxy re-export this one.
 */
export class InvalidOptionError extends LinkBufferError {
  readonly option: string;
  constructor(name: string, value: unknown, expected: string) {
    super(`option ${name} must be ${expected}, got ${describe(value)}`, 'ERR_INVALID_OPTION');
    this.option = name;
  }
}
InvalidOptionError.prototype.name = 'InvalidOptionError';

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol' || typeof v === 'bigint') return String(v);
  if (v !== null && typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

/** The buffer was closed; its memory went back to the pool. */
export class BufferClosedError extends LinkBufferError {
  constructor() {
    super('the LinkBuffer is closed', 'ERR_BUFFER_CLOSED');
  }
}
BufferClosedError.prototype.name = 'BufferClosedError';

/** A size or offset that is not a non-negative integer below 2^32, or is out of range for the call. */
export class InvalidSizeError extends LinkBufferError {
  readonly value: unknown;
  constructor(value: unknown, what = 'size') {
    super(`invalid ${what}: ${String(value)} (expected an integer from 0 to 2^32-1)`, 'ERR_INVALID_SIZE');
    this.value = value;
  }
}
InvalidSizeError.prototype.name = 'InvalidSizeError';

/** mallocAck(n) or writeDirect(p, remainCap) named more bytes than are malloc'd and unflushed. */
export class MallocAckError extends LinkBufferError {
  constructor(requested: number, malloced: number, what = 'mallocAck') {
    super(`${what}(${requested}) exceeds the ${malloced} malloc'd, unflushed bytes`, 'ERR_MALLOC_ACK_OVERFLOW');
  }
}
MallocAckError.prototype.name = 'MallocAckError';

/** A block was released more times than it was acquired or retained: a bug in the caller. */
export class BlockReleasedError extends LinkBufferError {
  constructor() {
    super('block released more often than it was acquired', 'ERR_BLOCK_RELEASED');
  }
}
BlockReleasedError.prototype.name = 'BlockReleasedError';
