// Unix domain sockets: the EventLoop listens on a path, the Dialer dials 'unix'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockPool } from '@nocopy/linkbuffer';
import { EventLoop, dialConnection, DialError } from '../src/index.js';
import { RawClient, assertAllBack, echoFrames, frame, pattern, until, within } from './helpers.js';

const skip = process.platform === 'win32' ? 'Unix domain socket paths are not available on Windows' : false;

function socketPath(name: string): string {
  return join(tmpdir(), `nocopy-${process.pid}-${name}.sock`);
}

test('echo over a Unix socket: listen({ path }), dial("unix")', { skip, timeout: 10_000 }, async (t) => {
  const path = socketPath('echo');
  const pool = new BlockPool();
  const loop = new EventLoop(echoFrames, { pool });
  assert.equal(await loop.listen({ path }), path);
  t.after(() => loop.shutdown({ timeout: 100 }));
  assert.equal(loop.address(), path);

  const conn = await dialConnection('unix', path, { pool, readTimeout: 5000 });
  const payload = pattern(300_000, 9);
  conn.writer.writeBinary(frame('short'));
  conn.writer.writeBinary(frame(payload));
  await conn.writer.flush();
  await conn.reader.waitFor(9);
  assert.equal(conn.reader.readUint32BE(), 5);
  assert.equal(conn.reader.readString(5), 'short');
  await conn.reader.waitFor(4 + payload.length);
  assert.equal(conn.reader.readUint32BE(), payload.length);
  assert.ok(conn.reader.readBinary(payload.length).equals(payload), 'the echo differs');
  conn.reader.release();

  // A plain net client on the same path.
  const raw = await RawClient.connect(path);
  t.after(() => raw.destroy());
  assert.equal((await raw.roundTrip('raw')).toString(), 'raw');

  const closed = new Promise<void>((resolve) => conn.addCloseCallback(() => resolve()));
  conn.close();
  await within(closed, 3000, 'the close');
  raw.destroy();
  await until(() => loop.connections === 0, 'the server side to close');
  assertAllBack(pool);
  await loop.shutdown({ timeout: 100 });
  assert.equal(existsSync(path), false, 'the socket file is removed on shutdown');
});

test('dialing a Unix socket path that does not exist fails with DialError, cause ENOENT', { skip, timeout: 10_000 }, async () => {
  await assert.rejects(dialConnection('unix', socketPath('missing')), (err: unknown) => {
    assert.ok(err instanceof DialError, String(err));
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    return true;
  });
});
