// @nocopy/transport/util: the helpers every nocopy package shares, and that a package built on the
// transport may use too: option validators that throw InvalidOptionError, the rate-limited warner,
// the reconnect backoff, address formatting, promise helpers and the check-phase output batcher.
export { checkMs, checkBytes, checkCount, checkSafeInteger, checkEnum, checkFunction, checkBoolean, checkHostPort } from './validate.js';
export { createWarner, type Warner, type WarnerOptions } from './warner.js';
export { type Backoff, type ReconnectOptions, resolveBackoff, backoffDelay } from './backoff.js';
export { formatHostPort, formatAddress } from './address.js';
export { RESOLVED, isThenable, noop, rejected } from './thenable.js';
export { inCheckPhase } from './check-phase.js';
