// Module-scoped symbols for state shared between the transport's own files (not public API).
export const kConnection = Symbol('nocopy.connection');
export const kOnData = Symbol('nocopy.onData');
export const kOnRead = Symbol('nocopy.onRead');
export const kWait = Symbol('nocopy.wait');
export const kSend = Symbol('nocopy.send');
export const kDrain = Symbol('nocopy.drain');
export const kDestroy = Symbol('nocopy.destroy');
export const kStart = Symbol('nocopy.start');
export const kIdle = Symbol('nocopy.idle');
export const kReport = Symbol('nocopy.report');
export const kBudget = Symbol('nocopy.budget');
