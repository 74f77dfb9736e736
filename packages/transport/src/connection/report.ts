// Errors from user code (handlers, hooks, close callbacks): to the onError option, else to the
// diagnostics channel, else a rate-limited process warning. Never a crash.
import type { ConnState } from './state.js';
import { connectionErrorChannel } from '../diagnostics.js';
import { createWarner } from '../util/warner.js';

const warnHandlerError = createWarner({ code: 'NOCOPY_HANDLER_ERROR' });

export function report(core: ConnState<any>, err: unknown): void {
  const hook = core.opts.onError;
  const subscribed = connectionErrorChannel.hasSubscribers;
  if (subscribed) connectionErrorChannel.publish({ connection: core.conn, error: err });
  if (hook !== undefined) {
    try {
      hook(err, core.conn);
    } catch {
      // An onError that throws has nowhere further to report to.
    }
  } else if (!subscribed) {
    warnHandlerError(err);
  }
}
