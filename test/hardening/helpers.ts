// Shared fixtures for the hardening tests: real sockets on loopback, never mocks.
// (Node's runner also loads this file when given the whole directory; it defines no tests.)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { sleep, within, until, deferred, frame, RawClient } from '@nocopy/test-kit';
import { sleep, type RawClient } from '@nocopy/test-kit';
import assert from 'node:assert/strict';

/**
 * A slow-loris: writes `msg` to `client` one byte per `everyMs` and never its last byte, so that it
 * never completes. It stops when the client closes or at `stop()`; `sent()` counts the bytes written.
 */
export function trickle(client: RawClient, msg: Uint8Array, everyMs = 100): { sent(): number; stop(): void } {
  let sent = 0;
  const timer = setInterval(() => {
    if (sent < msg.length - 1 && !client.isClosed) client.socket.write(msg.subarray(sent, ++sent));
  }, everyMs);
  return { sent: () => sent, stop: () => clearInterval(timer) };
}

/**
 * While `peer` is open, runs `step(i)` (i = 0, 1, ...) every `pauseMs`: a good client working beside
 * a hostile one until the server drops it. Fails after `max` steps; returns how many ran.
 */
export async function whileOpen(peer: RawClient, step: (i: number) => Promise<void>, pauseMs: number, what: string, max = 200): Promise<number> {
  let i = 0;
  while (!peer.isClosed) {
    await step(i);
    i++;
    if (i > max) assert.fail(`${what} was never closed`);
    await sleep(pauseMs);
  }
  return i;
}







/** The p-th percentile (0..100) of `xs` (nearest rank). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---- certificates ----

export interface Pem {
  key: string;
  cert: string;
}

export interface Pki {
  ca: Pem;
  /** Signed by `ca`; CN=localhost, SAN DNS:localhost and IP:127.0.0.1. */
  server: Pem;
  /** Signed by `ca`; CN=client, for client authentication. */
  client: Pem;
  /** Self-signed, CN=localhost: trusted by nobody unless given as `ca`. */
  selfSigned: Pem;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A fresh test PKI made with the `openssl` CLI in a temp dir (Node 20 cannot make X.509 certificates
 * by itself), or null when there is no usable `openssl`.
 */
export function makePki(): Pki | null {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-hardening-'));
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  try {
    openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=nocopy test CA'], dir);
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [name, cn, serial] of [['server', 'localhost', '2'], ['client', 'client', '3']] as const) {
      openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial,
        '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
    }
    openssl(['req', '-x509', ...EC, '-keyout', 'self.key', '-out', 'self.pem', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost'], dir);
    return {
      ca: { key: read('ca.key'), cert: read('ca.pem') },
      server: { key: read('server.key'), cert: read('server.pem') },
      client: { key: read('client.key'), cert: read('client.pem') },
      selfSigned: { key: read('self.key'), cert: read('self.pem') },
    };
  } catch {
    return null; // no openssl CLI (or one that cannot do the above)
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The transport's committed test-only self-signed pair (CN=localhost); this file runs from test/dist/hardening. */
export function fixtureSelfSigned(): Pem | null {
  const dir = fileURLToPath(new URL('../../../packages/transport/test/fixtures/', import.meta.url));
  const key = join(dir, 'localhost-key.pem');
  const cert = join(dir, 'localhost-cert.pem');
  if (!existsSync(key) || !existsSync(cert)) return null;
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}
