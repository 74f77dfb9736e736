// The instrumentation scope's name and version, as spans and metrics report them.
export const NAME = '@nocopy/otel';
export const VERSION = '0.1.0';
