// bench/echo: do the two generators agree? Issue 29 keeps the Node load client as a second generator
// beside the compiled one and asks that "the two agree on ratios where neither saturates". A ratio
// (a server's figure over raw's, same generator, same run) cancels most of what a generator adds to
// every row alike; what is left is how differently the two load the servers. The server's CPU per
// request is compared always (it is the headline, and a saturated generator changes it less than the
// rate); the rate only where neither generator used more than GEN_BOUND% of its core on either row.
// scripts/readme-figures.mjs applies the same rule to latest.json (plain JS, no build: kept in step).

/** Above this share of its core a generator, not the server, bounds the rate. */
export const GEN_BOUND = 80;
/** Ratios within this fraction of each other agree. */
export const AGREE = 0.1;

/** One server's medians under one generator. */
export interface GenFigures {
  rps: number;
  cpuUsPerReq: number;
  /** The generator's own CPU, % of its core. */
  genCpu: number;
}

export interface Agreement {
  what: 'server CPU / raw' | 'rate / raw';
  loadgen: number;
  node: number;
  verdict: 'PASS' | 'DIFF' | 'not compared';
  why?: string;
}

/** The Node client's ratio over the compiled generator's, as "+3%". */
export function apart(a: Agreement): string {
  const d = (a.node / a.loadgen - 1) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

function verdict(loadgen: number, node: number): 'PASS' | 'DIFF' | 'not compared' {
  if (!Number.isFinite(loadgen) || !Number.isFinite(node) || loadgen === 0) return 'not compared';
  return Math.abs(node / loadgen - 1) <= AGREE ? 'PASS' : 'DIFF';
}

/** The agreement of one server's ratios to raw under both generators. */
export function agreement(lg: GenFigures, lgRaw: GenFigures, nc: GenFigures, ncRaw: GenFigures): Agreement[] {
  const cpu = { loadgen: lg.cpuUsPerReq / lgRaw.cpuUsPerReq, node: nc.cpuUsPerReq / ncRaw.cpuUsPerReq };
  const rate = { loadgen: lg.rps / lgRaw.rps, node: nc.rps / ncRaw.rps };
  const busiest = Math.max(lg.genCpu, lgRaw.genCpu, nc.genCpu, ncRaw.genCpu);
  const saturated = busiest > GEN_BOUND;
  return [
    { what: 'server CPU / raw', ...cpu, verdict: verdict(cpu.loadgen, cpu.node) },
    saturated
      ? { what: 'rate / raw', ...rate, verdict: 'not compared', why: `a generator at ${busiest.toFixed(0)}% of its core` }
      : { what: 'rate / raw', ...rate, verdict: verdict(rate.loadgen, rate.node) },
  ];
}
