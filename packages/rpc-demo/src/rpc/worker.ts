// The piscina worker entry for offloaded methods: runs `name` from the user's handler module with the
// call's params. Modules are imported once per worker thread.
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
  return (fn as (...p: unknown[]) => unknown)(...task.params);
}
