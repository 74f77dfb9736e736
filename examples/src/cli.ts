// The examples' command lines: --port and --host, one-line usage errors (exit 2), SIGINT/SIGTERM
// shut the server down gracefully (exit 0), as the nocopy CLIs do.
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';

export interface Closable {
  listen(options: { port: number; host: string }): Promise<AddressInfo | string>;
  shutdown(options?: { timeout?: number }): Promise<void>;
}

export async function runServer(name: string, usage: string, defaultPort: number, make: () => Closable): Promise<void> {
  let values: { port?: string; host?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { port: { type: 'string', short: 'p' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\nTry '${name} --help'.\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const port = values.port === undefined ? defaultPort : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || values.port?.trim() === '') {
    process.stderr.write(`${name}: --port must be an integer from 0 to 65535, got "${values.port}"\nTry '${name} --help'.\n`);
    process.exit(2);
  }
  const host = values.host ?? '127.0.0.1';
  const server = make();
  let addr: AddressInfo | string;
  try {
    addr = await server.listen({ port, host });
  } catch (err) {
    process.stderr.write(`${name}: cannot listen on ${host}:${port}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const where = typeof addr === 'string' ? addr : addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    server.shutdown({ timeout: 5000 }).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${name}: shutdown after ${signal} failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(`${name} listening on ${where}\n`);
}
