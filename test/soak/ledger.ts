// The soak's books: calls completed and verified, failures by code (each one judged expected or not),
// faults injected by kind, and problems found by the probes.
//
// A failure is expected only if it carries a coded error (`err.code`, a string) that a fault explains:
// either the call itself was the fault (an aborted or timed-out call), or a fault window of one of
// the call's scopes (its client, its server) allows that code and overlaps the call. Any other
// failure, an uncoded one included, fails the soak.
import type { Connection } from '@nocopy/transport';
import { errorCode as codeOf } from '@nocopy/test-kit';
import type net from 'node:net';

interface FaultWindow {
  codes: ReadonlySet<string>;
  from: number;
  until: number;
}

/**
 * Something faults are injected into: a client (its connections and raw sockets) or a server.
 * Connections dialed while a worker runs in this scope (AsyncLocalStorage) are listed in `conns`.
 */
export class Scope {
  readonly name: string;
  readonly conns = new Set<Connection<any>>();
  readonly sockets = new Set<net.Socket>();
  #windows: FaultWindow[] = [];

  constructor(name: string) {
    this.name = name;
  }

  /** Failures with these codes are expected from now until `graceMs` from now (calls overlapping that span). */
  allow(codes: readonly string[], graceMs: number): void {
    const now = Date.now();
    this.#windows.push({ codes: new Set(codes), from: now, until: now + graceMs });
  }

  /** An open-ended window (a server restart): ended by end(). */
  open(codes: readonly string[]): FaultWindow {
    const w = { codes: new Set(codes), from: Date.now(), until: Infinity };
    this.#windows.push(w);
    return w;
  }

  end(w: FaultWindow, graceMs: number): void {
    w.until = Date.now() + graceMs;
  }

  /** Whether a fault explains a failure with `code` of a call that started at `start` and failed now. */
  explains(code: string, start: number): boolean {
    const now = Date.now();
    if (this.#windows.length > 64) this.#windows = this.#windows.filter((w) => w.until > now - 60_000);
    return this.#windows.some((w) => w.codes.has(code) && w.from <= now && start <= w.until);
  }
}

// The error's code when it is a string (a missing one is counted, not a failure here).
export { codeOf };

const SAMPLES = 25;

export class Ledger {
  started = 0;
  completed = 0;
  verified = 0;
  readonly completedBy = new Map<string, number>();
  /** Failed calls by code (expected and unexpected). */
  readonly failures = new Map<string, number>();
  expectedFailures = 0;
  unexpectedFailures = 0;
  readonly unexpectedSamples: string[] = [];
  mismatches = 0;
  readonly mismatchSamples: string[] = [];
  readonly faults = new Map<string, number>();
  /** Errors the servers reported (onError), by code. */
  readonly serverErrors = new Map<string, number>();
  /** Measurements worth reporting, by what (the name says the unit). */
  readonly timings = new Map<string, number[]>();
  /** Anything else that is wrong (a probe not closed in time, an unhandled rejection, ...). */
  readonly problems: string[] = [];
  problemCount = 0;

  begin(): number {
    this.started++;
    return Date.now();
  }

  /** A completed call; `ok` tells whether what came back is exactly what was expected. */
  done(what: string, ok: boolean, detail?: () => string): void {
    this.completed++;
    this.completedBy.set(what, (this.completedBy.get(what) ?? 0) + 1);
    if (ok) {
      this.verified++;
      return;
    }
    this.mismatches++;
    if (this.mismatchSamples.length < SAMPLES) this.mismatchSamples.push(`${what}: ${detail?.() ?? 'mismatch'}`);
  }

  /**
   * A failed call. `expected`: codes the call itself was set up to fail with (an abort, a short
   * timeout). Returns whether the failure was expected.
   */
  failed(what: string, err: unknown, start: number, scopes: readonly Scope[], expected: readonly string[] = []): boolean {
    const code = codeOf(err);
    const key = code ?? 'NO_CODE';
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    const ok = code !== undefined && (expected.includes(code) || scopes.some((s) => s.explains(code, start)));
    if (ok) {
      this.expectedFailures++;
      return true;
    }
    this.unexpectedFailures++;
    if (this.unexpectedSamples.length < SAMPLES) {
      const cause = (err as { cause?: unknown })?.cause;
      const causeText = cause === undefined ? '' : ` (cause: ${codeOf(cause) ?? ''} ${(cause as Error)?.message ?? String(cause)})`;
      this.unexpectedSamples.push(
        `${what} [${scopes.map((s) => s.name).join(', ')}] after ${Date.now() - start} ms: ${key}: ${(err as Error)?.message ?? String(err)}${causeText}`,
      );
    }
    return false;
  }

  timing(what: string, ms: number): void {
    const list = this.timings.get(what);
    if (list === undefined) this.timings.set(what, [ms]);
    else list.push(ms);
  }

  fault(kind: string): void {
    this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
  }

  serverError(err: unknown): void {
    const key = codeOf(err) ?? 'NO_CODE';
    this.serverErrors.set(key, (this.serverErrors.get(key) ?? 0) + 1);
  }

  problem(text: string): void {
    this.problemCount++;
    if (this.problems.length < SAMPLES) this.problems.push(text);
  }

  get faultCount(): number {
    let n = 0;
    for (const v of this.faults.values()) n += v;
    return n;
  }
}

/** What every load module shares. */
export interface SoakContext {
  ledger: Ledger;
  /** Connections by diagnostics channel (see registry.ts); typed loosely here to avoid an import cycle. */
  registry: { peerOf(localPort: number | undefined, remotePort: number | undefined): Connection<any> | null };
  /** False once the run's time is up: workers finish their current call and return. */
  running(): boolean;
}
