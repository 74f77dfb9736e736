// diagnostics_channel instrumentation. Channels are created once; publishers check hasSubscribers first,
// so an unobserved process pays one property read per event.
import diagnostics from 'node:diagnostics_channel';

/** Message: `{ connection }` — a connection was accepted (after onPrepare) or dialed. */
export const connectionOpenChannel = diagnostics.channel('nocopy:connection:open');
/** Message: `{ connection, error }` — a connection is gone (`error` undefined on a clean close). */
export const connectionCloseChannel = diagnostics.channel('nocopy:connection:close');
/** Message: `{ connection, error }` — a handler, hook or close callback threw, or the socket failed. */
export const connectionErrorChannel = diagnostics.channel('nocopy:connection:error');
