// The attribute and metric names used, in one place: OpenTelemetry's RPC semantic conventions
// (rpc.*, server.*, network.peer.*, error.type) and nocopy's own (nocopy.*) where they have none.
export const RPC_SYSTEM = 'rpc.system';
export const RPC_METHOD = 'rpc.method';
export const SERVER_ADDRESS = 'server.address';
export const SERVER_PORT = 'server.port';
export const NETWORK_PEER_ADDRESS = 'network.peer.address';
export const NETWORK_PEER_PORT = 'network.peer.port';
export const ERROR_TYPE = 'error.type';
/** The request's msgid on its connection. */
export const RPC_MSGID = 'rpc.nocopy.msgid';
/** The time the caller gives the call, in ms (client: its timeout; server: what was left of the deadline on arrival). */
export const RPC_TIMEOUT = 'rpc.nocopy.timeout_ms';
/** Why a call was given up: ERR_RPC_CANCELLED (aborted by the caller), ERR_RPC_DEADLINE, ERR_CONN_CLOSED. */
export const RPC_CANCELLED = 'rpc.nocopy.cancelled';

/** rpc.system of MessagePack-RPC calls made or served by nocopy. */
export const SYSTEM = 'nocopy-msgpack-rpc';

/** Histogram buckets of call durations in ms: 50 µs to 10 s. */
export const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
