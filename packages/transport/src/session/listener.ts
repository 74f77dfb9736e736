// What a session tells its application, and in which order (README: sessions, callback order):
//   onOpen -> (onMessage | onCron | timers)* -> onClose, then close callbacks (last added first).
// onError may come at any point before onClose, with the error that is about to close the session
// (a malformed message, a heartbeat or idle timeout, an input limit) or that a callback threw.
import type { Session } from './session.js';

export interface SessionListener<In = unknown, Out = In> {
  /**
   * A new session, before any message. Returning false (or a promise of false), throwing or
   * rejecting refuses it: the session closes with SessionRejectedError, and onClose still runs.
   * Messages wait until it settles.
   */
  onOpen?(session: Session<In, Out>): void | boolean | Promise<void | boolean>;
  /**
   * One decoded message. Messages of a session arrive in order; a promise delays that session's
   * next message until it settles (with maxInFlight 1, the default), never another session's.
   * A throw or rejection goes to onError and closes the session (gracefully: what was sent goes out).
   */
  onMessage(session: Session<In, Out>, message: In): void | Promise<void>;
  /** Every cronPeriod ms while the session is open. An async onCron still running when the next is due skips that period. */
  onCron?(session: Session<In, Out>): void | Promise<void>;
  /** An error about this session, before onClose. Without onError, errors become process warnings (NOCOPY_SESSION_ERROR). */
  onError?(session: Session<In, Out>, error: unknown): void;
  /**
   * Exactly once per session, after onOpen and every onMessage and onCron settled. `reason` is what
   * closed it: the argument of close(reason), the error, or undefined for a clean close by either side.
   */
  onClose?(session: Session<In, Out>, reason: unknown): void;
}
