// Does msgpackr-extract (msgpackr's native string decoding, the package whose install script npm
// reports as not run) matter here? Decode speed of msgpackr.unpack with the native extractor and
// with it disabled (MSGPACKR_NATIVE_ACCELERATION_DISABLED=true), each against @nocopy/rpc-demo's own
// strict decoder measured in the same process: ratios, medians over interleaved rounds.
//
//   node bench/dist/msgpackr-native/main.js [--rounds 5] [--time 300]
//
// msgpackr-extract only replaces msgpackr's string decoding in unpack (nothing in pack), and the
// @nocopy packages do not use msgpackr at all: this measures the benchmarks' hand-written
// net + msgpackr baseline, and tells whether approving the install script would change anything.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';

interface Sample {
  native: boolean;
  /** ops/s per case and decoder. */
  hz: Record<string, { msgpackr: number; nocopy: number }>;
}

/** RPC-shaped messages: what the bench/rpc load sends and gets back, and a string-heavy reply. */
function messages(): Record<string, unknown> {
  const s128 = 'x'.repeat(128);
  const rows = Array.from({ length: 100 }, (_, i) => ({ id: i, name: `user-${i}`, email: `user${i}@example.com`, city: 'Zürich', tags: ['a', 'bb', 'ccc'] }));
  return {
    'request echo(128 B string)': [0, 1234, 'echo', [s128]],
    'response 128 B string': [1, 1234, null, s128],
    'response 16 KiB string': [1, 1234, null, 'y'.repeat(16 * 1024)],
    'response 100 objects, 500 short strings': [1, 1234, null, rows],
  };
}

async function child(time: number): Promise<void> {
  const { pack, unpack, isNativeAccelerationEnabled } = await import('msgpackr');
  const { msgpack } = await import('@nocopy/rpc-demo');
  const bench = new Bench({ time, warmup: true, warmupTime: 100 });
  const cases = Object.entries(messages()).map(([name, value]) => {
    const bytes = pack(value);
    // Both decoders must agree on what they decode, or the comparison means nothing.
    if (JSON.stringify(unpack(bytes)) !== JSON.stringify(msgpack.decode(bytes))) throw new Error(`decoders disagree on ${name}`);
    bench.add(`${name}|msgpackr`, () => unpack(bytes));
    bench.add(`${name}|nocopy`, () => msgpack.decode(bytes));
    return name;
  });
  await bench.run();
  // Calls per second from the median latency (ms), as the other suites do.
  const perSecond = (task: string): number => {
    const r = bench.getTask(task)!.result;
    if (r.state !== 'completed') throw new Error(`${task}: ${r.state}`);
    return 1000 / r.latency.p50;
  };
  const hz: Sample['hz'] = {};
  for (const name of cases) hz[name] = { msgpackr: perSecond(`${name}|msgpackr`), nocopy: perSecond(`${name}|nocopy`) };
  process.stdout.write(JSON.stringify({ native: isNativeAccelerationEnabled, hz } satisfies Sample));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function parent(rounds: number, time: number): void {
  const self = fileURLToPath(import.meta.url);
  const samples: Sample[] = [];
  for (let r = 0; r < rounds; r++) {
    // Interleaved, so that drift on a noisy machine hits both modes alike.
    for (const disabled of r % 2 === 0 ? [false, true] : [true, false]) {
      const env = { ...process.env };
      if (disabled) env.MSGPACKR_NATIVE_ACCELERATION_DISABLED = 'true';
      else delete env.MSGPACKR_NATIVE_ACCELERATION_DISABLED;
      const p = spawnSync(process.execPath, [self, '--child', '--time', String(time)], { env, encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
      const s = JSON.parse(p.stdout) as Sample;
      if (s.native === disabled) throw new Error(`native acceleration is ${s.native ? 'on' : 'off'} with MSGPACKR_NATIVE_ACCELERATION_DISABLED ${disabled ? 'set' : 'unset'}: is msgpackr-extract installed?`);
      samples.push(s);
    }
    process.stderr.write(`round ${r + 1}/${rounds}\n`);
  }
  console.log(`msgpackr.unpack with and without msgpackr-extract, vs @nocopy/rpc-demo's decoder (same process); medians of ${rounds} rounds, node ${process.version}`);
  console.log('| message | native / pure JS (msgpackr) | msgpackr native / nocopy | msgpackr pure JS / nocopy | nocopy decodes/s |');
  console.log('|---|---|---|---|---|');
  for (const name of Object.keys(messages())) {
    const on = samples.filter((s) => s.native).map((s) => s.hz[name]!);
    const off = samples.filter((s) => !s.native).map((s) => s.hz[name]!);
    const ratio = median(on.map((x) => x.msgpackr / x.nocopy)) / median(off.map((x) => x.msgpackr / x.nocopy));
    console.log(
      `| ${name} | ${ratio.toFixed(2)}x | ${median(on.map((x) => x.msgpackr / x.nocopy)).toFixed(2)}x | ` +
        `${median(off.map((x) => x.msgpackr / x.nocopy)).toFixed(2)}x | ${Math.round(median([...on, ...off].map((x) => x.nocopy))).toLocaleString('en-US')} |`,
    );
  }
}

const { values } = parseArgs({ options: { child: { type: 'boolean' }, rounds: { type: 'string' }, time: { type: 'string' } } });
const time = Number(values.time ?? 300);
if (values.child) await child(time);
else parent(Number(values.rounds ?? 5), time);
