// A session's `signal`: aborted as soon as its transport is gone, without waiting for an input call
// still running (the link's close callbacks, and so onClose, wait for it). Over TCP that is the
// socket's 'close'; over WebSocket and UDP the message link says so (onGone).
import type { Connection } from '../connection/connection.js';
import { ConnClosedError } from '../errors.js';
import type { SessionLink } from './link.js';

export function goneSignal(link: SessionLink, connection: Connection<any> | undefined, alreadyGone: boolean): AbortController {
  const ac = new AbortController();
  const gone = (): void => {
    if (!ac.signal.aborted) ac.abort(new ConnClosedError('the session is gone'));
  };
  if (alreadyGone) gone();
  else if (connection !== undefined) {
    const socket = connection.socket;
    if (socket.closed) gone();
    else socket.once('close', gone);
  } else link.onGone?.(gone);
  return ac;
}
