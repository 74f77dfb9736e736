// TLS: a round trip with a self-signed certificate made for the test, and refusal without its CA.
// Node 20 cannot make an X.509 certificate by itself: the `openssl` CLI makes a fresh pair in a temp
// dir; without it the committed test-only pair in fixtures/ is used; with neither the tests skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tls, { type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { BlockPool } from '@nocopy/linkbuffer';
import { DialError, dialConnection } from '../src/index.js';
import { RawClient, assertAllBack, echoFrames, frame, frames, pattern, readFrameFrom, serve, sleep, until, within } from './helpers.js';

function makeCert(): { key: string; cert: string } | null {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'],
      { stdio: 'pipe' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } catch {
    return null; // no openssl CLI (or an old one)
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The committed pair; this file runs from dist/test, the fixtures stay in test/fixtures. */
function fixtureCert(): { key: string; cert: string } | null {
  const dir = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
  const key = join(dir, 'localhost-key.pem');
  const cert = join(dir, 'localhost-cert.pem');
  if (!existsSync(key) || !existsSync(cert)) return null;
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

const made = makeCert() ?? fixtureCert();
const skip = made === null ? 'no openssl CLI to make a test certificate and no test/fixtures pair: TLS tests skipped' : false;
const creds = made ?? { key: '', cert: '' };

/** Reads one length-prefixed frame from a dialed connection. */
function readFrame(conn: Awaited<ReturnType<typeof dialConnection>>): Promise<Buffer> {
  return readFrameFrom(frames, conn);
}

test('TLS round trip with a self-signed certificate trusted through `ca`', { skip, timeout: 10_000 }, async (t) => {
  const pool = new BlockPool();
  const { loop, port } = await serve(echoFrames, { pool }, { tls: { key: creds.key, cert: creds.cert } });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const conn = await dialConnection('tcp', { port }, { tls: { ca: creds.cert, servername: 'localhost' }, pool, readTimeout: 5000 });
  t.after(() => conn.close());
  const socket = conn.socket as TLSSocket;
  assert.equal(socket.encrypted, true);
  assert.equal(socket.authorized, true);
  assert.equal(socket.getPeerCertificate().subject.CN, 'localhost');

  conn.writer.writeBinary(frame('hello over tls'));
  await conn.writer.flush();
  assert.equal((await readFrame(conn)).toString(), 'hello over tls');

  const big = pattern(1024 * 1024 + 3, 5); // many TLS records and socket chunks
  conn.writer.writeBinary(frame(big));
  await conn.writer.flush();
  assert.ok((await readFrame(conn)).equals(big), 'the large echo differs');

  conn.close();
  await until(() => conn.closed && loop.connections === 0, 'both sides to close');
  assertAllBack(pool);
});

test('a TLS server that speaks first: the dialed client receives the greeting and replies', { skip, timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames, {
    onConnect: (_ctx, conn) => {
      conn.writer.writeBinary(frame('welcome'));
      return conn.writer.flush();
    },
  }, { tls: { key: creds.key, cert: creds.cert } });
  t.after(() => loop.shutdown({ timeout: 100 }));
  for (const readMode of ['onread', 'link'] as const) {
    const conn = await dialConnection('tcp', { port }, { tls: { ca: creds.cert, servername: 'localhost' }, readMode, readTimeout: 5000 });
    t.after(() => conn.close());
    assert.equal((await readFrame(conn)).toString(), 'welcome', readMode);
    conn.writer.writeBinary(frame(readMode));
    await conn.writer.flush();
    assert.equal((await readFrame(conn)).toString(), readMode);
    conn.close();
  }
});

test('a TLS dial without the CA is refused with a DialError that has the verification error as cause', { skip, timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames, {}, { tls: { key: creds.key, cert: creds.cert } });
  t.after(() => loop.shutdown({ timeout: 100 }));
  await assert.rejects(dialConnection('tcp', { port }, { tls: { servername: 'localhost' }, timeout: 3000 }), (err: unknown) => {
    assert.ok(err instanceof DialError, String(err));
    assert.equal(err.code, 'ERR_DIAL_FAILED');
    assert.equal((err.cause as { code?: string }).code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    return true;
  });
  // The right CA but a name the certificate does not hold.
  await assert.rejects(dialConnection('tcp', { port }, { tls: { ca: creds.cert, servername: 'example.com' }, timeout: 3000 }), (err: unknown) => {
    assert.ok(err instanceof DialError, String(err));
    assert.equal((err.cause as { code?: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    return true;
  });
  assert.equal(loop.stats().accepted, 0, 'no failed handshake reached the loop');
  // A client that left mid-handshake must not leave a socket behind that keeps the server from closing.
  await within(loop.shutdown({ timeout: 200 }), 3000, 'shutdown after failed handshakes');
});

test('a client that fails the handshake leaves no socket open on the server', { skip: skip || (existsSync('/proc/self/fd') ? false : 'needs /proc/self/fd to count open sockets'), timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames, {}, { tls: { key: creds.key, cert: creds.cert } });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const fds = () => readdirSync('/proc/self/fd').length;
  await sleep(20);
  const before = fds();
  for (let i = 0; i < 5; i++) {
    await assert.rejects(dialConnection('tcp', { port }, { tls: { servername: 'localhost' } }), DialError);
  }
  // Each failed dial closed its own socket; the server's side of each must close too (not linger half-open).
  await until(() => fds() <= before, `open fds back to ${before} (now ${fds()})`, 3000);
});

test('TLS half-close: a request followed by end() still gets its reply, then the connection closes', { skip, timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(async (ctx, conn) => {
    await until(() => conn.peerEnded, "the client's FIN to arrive while the handler runs");
    return echoFrames(ctx, conn);
  }, {}, { tls: { key: creds.key, cert: creds.cert } });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: creds.cert, allowHalfOpen: true } as tls.ConnectionOptions);
  t.after(() => socket.destroy());
  await once(socket, 'secureConnect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.end(frame('half-closed'));
  await within(once(socket, 'end'), 3000, 'the reply and the FIN');
  assert.deepEqual(Buffer.concat(chunks), frame('half-closed'));
  await until(() => loop.connections === 0, 'the server side to close');
});

test('shutdown is not held up by a client that connects to a TLS port and never says hello', { skip, timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames, {}, { tls: { key: creds.key, cert: creds.cert } });
  const mute = await RawClient.connect(port);
  t.after(() => mute.destroy());
  const good = await dialConnection('tcp', { port }, { tls: { ca: creds.cert, servername: 'localhost' } });
  t.after(() => good.close());
  await until(() => loop.connections === 1, 'the good connection to be accepted');
  await within(loop.shutdown({ timeout: 200 }), 3000, 'shutdown');
  // shutdown() resolves when the server's sockets are closed; the client sees the FIN a moment later.
  await until(() => !good.isActive(), 'the idle TLS connection to be closed');
});
