// Direct probes of what the machine offers (IPv6 loopback, loopback multicast), so a test skips
// only for the one cause it names, never because some other error happened to be thrown.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';

/** The errors binding ::1 gives on a kernel without IPv6 (or with no ::1 on lo); any other error is a real failure. */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/**
 * Why this machine has no IPv6 loopback, or null when it has one. On Linux it reads
 * /proc/net/if_inet6 (absent: no IPv6 in the kernel; no ::1 on lo: none configured); then, on every
 * system, binds a udp6 socket to ::1 and says "no" only for EAFNOSUPPORT / EADDRNOTAVAIL /
 * EPROTONOSUPPORT. Any other bind error is thrown: it is not "no IPv6", and must fail the test.
 */
export async function ipv6LoopbackMissing(): Promise<string | null> {
  if (process.platform === 'linux') {
    let table: string;
    try {
      table = readFileSync('/proc/net/if_inet6', 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'no IPv6 in this kernel (/proc/net/if_inet6 is absent): EAFNOSUPPORT';
      throw err;
    }
    if (!/^0{31}1\s/m.test(table)) return 'no ::1 on the loopback interface (/proc/net/if_inet6 lists none): EADDRNOTAVAIL';
  }
  const sock = dgram.createSocket('udp6');
  try {
    sock.bind(0, '::1');
    const [err] = await Promise.race([once(sock, 'error'), once(sock, 'listening').then(() => [null])]);
    if (err === null) return null;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (NO_IPV6.has(code)) return `binding udp6 ::1 failed with ${code}`;
    throw err;
  } finally {
    try {
      sock.close();
    } catch {
      // already closed by the failed bind
    }
  }
}

/**
 * Why IPv4 multicast over the loopback interface does not work here, or null when it does: a
 * plain dgram receiver joins `group` on 127.0.0.1 and a plain sender (multicast interface
 * 127.0.0.1, loopback on) sends to it, a few times over `ms`. This checks the kernel and the
 * sandbox, with no nocopy code involved, so a test of a multicast server may skip when this says no,
 * and must fail when this says yes and the server still gets nothing.
 */
export async function loopbackMulticastMissing(group: string, ms = 3000): Promise<string | null> {
  const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const tx = dgram.createSocket('udp4');
  rx.on('error', () => {});
  tx.on('error', () => {});
  try {
    rx.bind(0, '0.0.0.0');
    await once(rx, 'listening');
    try {
      rx.addMembership(group, '127.0.0.1');
    } catch (err) {
      return `a plain socket cannot join ${group} on 127.0.0.1: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
    tx.bind(0, '127.0.0.1');
    await once(tx, 'listening');
    tx.setMulticastInterface('127.0.0.1');
    tx.setMulticastLoopback(true);
    const port = rx.address().port;
    const got = new Promise<true>((resolve) => rx.once('message', () => resolve(true)));
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      tx.send('probe', port, group);
      const r = await Promise.race([got, new Promise<false>((resolve) => setTimeout(() => resolve(false), 200))]);
      if (r) return null;
    }
    return `a datagram sent to ${group} on 127.0.0.1 never reached a plain socket that joined it (no multicast route over loopback)`;
  } finally {
    rx.close();
    tx.close();
  }
}
