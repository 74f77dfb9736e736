// Errors of @nocopy/otel. Only options are checked here: what the instrumentation observes never
// throws into the calls it observes. InvalidOptionError is the one option error of every nocopy package.
import { InvalidOptionError } from '@nocopy/linkbuffer';

export { InvalidOptionError };

/** Throws InvalidOptionError unless `options` is an object with only `known` keys. */
export function checkOptions(options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  for (const k of Object.keys(options)) if (!known.includes(k)) throw new InvalidOptionError(k, (options as Record<string, unknown>)[k], `absent (unknown option; known: ${known.join(', ')})`);
}
