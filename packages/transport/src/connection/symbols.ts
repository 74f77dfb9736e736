// Module-scoped symbols for what the EventLoop, the dialer and the Connection share (not public API).
export const kOnRead = Symbol('nocopy.onRead');
export const kDrain = Symbol('nocopy.drain');
export const kDestroy = Symbol('nocopy.destroy');
export const kStart = Symbol('nocopy.start');
export const kIdle = Symbol('nocopy.idle');
export const kReport = Symbol('nocopy.report');
export const kBudget = Symbol('nocopy.budget');
/** Makes a Connection (its constructor is private: only the EventLoop and the dialer make them). */
export const kCreate = Symbol('nocopy.createConnection');
