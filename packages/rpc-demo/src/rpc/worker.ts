// The piscina worker entry for offloaded methods: runs `name` from the user's handler module with the
// call's params. Modules are imported once per worker thread.
import { UnencodableValueError } from '../errors.js';
import { encode } from '../msgpack/index.js';
import { thrownValue } from './wire-errors.js';

const modules = new Map<string, Promise<Record<string, unknown>>>();

export interface OffloadTask {
  filename: string;
  name: string;
  params: unknown[];
}

export default async function run(task: OffloadTask): Promise<unknown> {
  let mod = modules.get(task.filename);
  if (mod === undefined) {
    mod = import(task.filename) as Promise<Record<string, unknown>>;
    modules.set(task.filename, mod);
  }
  const fn = (await mod)[task.name];
  if (typeof fn !== 'function') throw new TypeError(`${task.filename} exports no function ${task.name}`);
  let result: unknown;
  try {
    result = await (fn as (...p: unknown[]) => unknown)(...task.params);
  } catch (err) {
    // piscina would report a rejection with null or undefined as a success.
    throw thrownValue(err);
  }
  if (result !== null && (typeof result === 'object' || typeof result === 'function' || typeof result === 'symbol' || typeof result === 'bigint')) {
    // A result the main thread could not encode is refused here, where it is cheap to say why: one
    // that cannot be cloned (a function) would make piscina's postMessage throw and kill this thread.
    try {
      encode(result);
    } catch (err) {
      if (!(err instanceof UnencodableValueError)) throw err;
      // A plain object: an Error loses its code on the way to the main thread.
      throw { name: err.name, message: `cannot encode as MessagePack: the result: ${err.detail}`, code: err.code };
    }
  }
  return result;
}
