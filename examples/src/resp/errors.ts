// Coded errors of the RESP example server.

/** Input that is not RESP2: a bad header, a length out of range, a missing CRLF. The session closes. */
export class RespProtocolError extends Error {
  readonly code = 'ERR_RESP_PROTOCOL';
  constructor(detail: string) {
    super(`Protocol error: ${detail}`);
  }
}
RespProtocolError.prototype.name = 'RespProtocolError';
