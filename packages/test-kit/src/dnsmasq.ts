// A real DNS server for tests: Debian's dnsmasq on 127.0.0.1 and a free UDP+TCP port, answering
// only from a hosts file (A/AAAA, reread on SIGHUP) and SRV records given at start, logging every
// query so a test can count what a resolver asked. Nothing else is served: no upstream, no DHCP.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';

export interface DnsmasqSrv {
  /** "_service._proto.domain" */
  name: string;
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

export interface DnsmasqOptions {
  /** The hosts file ("127.0.0.2 a.example.test" lines); setHosts() rewrites it and makes dnsmasq reread it. */
  hosts?: string;
  /** SRV records; changed only by restart(). */
  srv?: readonly DnsmasqSrv[];
  /** The TTL, in seconds, of every answer (--local-ttl). Default 0, dnsmasq's own. */
  ttl?: number;
  /** Domains answered only from here: an unknown name in them is NXDOMAIN, not REFUSED. Default ["test"]. */
  localDomains?: readonly string[];
  /** A port to listen on (UDP and TCP); default a free one. */
  port?: number;
  /** More dnsmasq arguments. */
  args?: readonly string[];
}

const CANDIDATES = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq', '/sbin/dnsmasq', '/usr/local/sbin/dnsmasq'];

/** The dnsmasq binary (NOCOPY_DNSMASQ names it, when set), or undefined. */
export function dnsmasqBinary(): string | undefined {
  const chosen = process.env['NOCOPY_DNSMASQ'];
  if (chosen !== undefined && chosen !== '') return existsSync(chosen) ? chosen : undefined;
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found !== undefined) return found;
  const r = spawnSync('dnsmasq', ['--version'], { stdio: 'ignore' });
  return r.status === 0 ? 'dnsmasq' : undefined;
}

/** Why dnsmasq cannot be run here, or undefined when it can. */
export function dnsmasqMissing(): string | undefined {
  const bin = dnsmasqBinary();
  if (bin === undefined) {
    const where = process.env['NOCOPY_DNSMASQ'] ? `NOCOPY_DNSMASQ=${process.env['NOCOPY_DNSMASQ']}` : `${CANDIDATES.join(', ')} and PATH`;
    return `dnsmasq not found (looked in ${where}; Debian: apt-get install dnsmasq-base)`;
  }
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return `${bin} --version failed: ${r.error?.message ?? r.stderr}`;
  return undefined;
}

/** A port free for both UDP and TCP on 127.0.0.1 now: one the kernel gives for UDP, checked for TCP. */
async function freeUdpTcpPort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) return port;
  }
}

export class Dnsmasq {
  readonly dir: string;
  readonly hostsFile: string;
  /** Every line dnsmasq logged, over all its runs (restart() keeps them). */
  readonly log: string[] = [];
  #options: DnsmasqOptions;
  #port: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #waiters = new Set<() => void>();
  #partial = '';

  private constructor(dir: string, options: DnsmasqOptions, port: number) {
    this.dir = dir;
    this.hostsFile = join(dir, 'hosts');
    this.#options = options;
    this.#port = port;
  }

  /** Starts dnsmasq; rejects with its output when it cannot start. */
  static async start(options: DnsmasqOptions = {}): Promise<Dnsmasq> {
    const missing = dnsmasqMissing();
    if (missing !== undefined) throw new Error(missing);
    const dir = mkdtempSync(join(tmpdir(), 'nocopy-dnsmasq-'));
    chmodSync(dir, 0o755);
    for (let attempt = 1; ; attempt++) {
      const d = new Dnsmasq(dir, options, options.port ?? (await freeUdpTcpPort()));
      try {
        await d.#run();
        return d;
      } catch (err) {
        // Another process may have taken the free port in between: try another one.
        if (options.port !== undefined || attempt >= 5 || !/in use/i.test(String((err as Error).message))) {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  get port(): number {
    return this.#port;
  }
  /** "127.0.0.1:PORT", as dns.Resolver#setServers takes it. */
  get server(): string {
    return `127.0.0.1:${this.#port}`;
  }
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** How many queries of `type` (A, AAAA, SRV) for `name` dnsmasq received, over all its runs. */
  queries(type: string, name: string): number {
    const needle = `query[${type}] ${name} from`;
    return this.log.filter((l) => l.includes(needle)).length;
  }

  /** Rewrites the hosts file and makes dnsmasq reread it (SIGHUP); resolves once it has. */
  async setHosts(hosts: string): Promise<void> {
    this.#options = { ...this.#options, hosts };
    writeFileSync(this.hostsFile, hosts);
    if (this.#child === undefined) return;
    const before = this.#reads();
    this.#child.kill('SIGHUP');
    await this.#waitLog(() => this.#reads() > before, 'dnsmasq to reread its hosts file');
  }

  /** Stops dnsmasq (SIGTERM) and waits for it to exit; the port stays this instance's for restart(). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.#exited;
    clearTimeout(t);
  }

  /** Stops it and starts it again on the same port, with `changes` applied to its options. */
  async restart(changes: Partial<DnsmasqOptions> = {}): Promise<void> {
    await this.stop();
    this.#options = { ...this.#options, ...changes };
    await this.#run();
  }

  /** Stops it and removes its files. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #reads(): number {
    return this.log.filter((l) => l.includes(`read ${this.hostsFile}`)).length;
  }

  #args(): string[] {
    const o = this.#options;
    const args = [
      '--no-daemon',
      `--port=${this.#port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--conf-file=/dev/null',
      '--pid-file=',
      '--log-queries',
      '--log-facility=-',
      `--addn-hosts=${this.hostsFile}`,
      `--local-ttl=${o.ttl ?? 0}`,
    ];
    // As root, dnsmasq drops to "nobody" after start and could no longer reread the hosts file.
    if (process.getuid?.() === 0) args.push('--user=root', '--group=root');
    for (const d of o.localDomains ?? ['test']) args.push(`--local=/${d}/`);
    for (const s of o.srv ?? []) args.push(`--srv-host=${s.name},${s.target},${s.port},${s.priority ?? 0},${s.weight ?? 0}`);
    args.push(...(o.args ?? []));
    return args;
  }

  async #run(): Promise<void> {
    writeFileSync(this.hostsFile, this.#options.hosts ?? '');
    const before = this.#reads();
    this.#partial = '';
    const child = spawn(dnsmasqBinary()!, this.#args(), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    let exitInfo = '';
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? code}`;
        if (this.#child === child) this.#child = undefined;
        this.#wake();
        resolve();
      });
      child.once('error', (err) => {
        exitInfo = `could not be spawned: ${err.message}`;
        if (this.#child === child) this.#child = undefined;
        this.#wake();
        resolve();
      });
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const lines = (this.#partial + chunk).split('\n');
      this.#partial = lines.pop()!;
      this.log.push(...lines);
      this.#wake();
    });
    // dnsmasq reads the hosts file after binding its sockets: that line means it answers.
    try {
      await this.#waitLog(() => this.#reads() > before || this.#child !== child, 'dnsmasq to start');
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    if (this.#child !== child) {
      await this.#exited;
      throw new Error(`dnsmasq ${exitInfo}: ${this.log.slice(-5).join(' | ')}`);
    }
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  async #waitLog(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
    if (cond()) return;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; log: ${this.log.slice(-5).join(' | ')}`));
      }, ms);
      this.#waiters.add(check);
    });
  }
}
