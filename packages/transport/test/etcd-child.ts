// A child process for client-etcd.test.ts. `register HOST PREFIX ADDRESS TTL`: registers and stays
// up until killed (the test SIGKILLs it: its key must go when the lease expires). `lifecycle HOST
// PREFIX`: a resolver and a registration that see each other, then both close, and the process must
// exit by itself (nothing left open: no timer, socket or gRPC channel); `dead HOST PREFIX`: the same
// against an etcd that is not there. Prints one JSON line.
import { EtcdResolver, register } from '../src/etcd/index.js';

const [mode, host, prefix, address, ttl] = process.argv.slice(2);

if (mode === 'register') {
  const reg = await register({ hosts: host!, prefix: prefix!, address: address!, ttl: Number(ttl), onError: (e) => console.error(e.message) });
  console.log(JSON.stringify({ registered: reg.key, lease: reg.leaseId }));
  setInterval(() => {}, 1 << 30); // stays up whatever etcd3 does with its handles
} else if (mode === 'lifecycle') {
  const resolver = new EtcdResolver({ hosts: host!, prefix: prefix! });
  const seen = new Promise<number>((resolve) => {
    resolver.start({ onEndpoints: (e) => e.length > 0 && resolve(e.length), onError: (e) => console.error(e.message) });
  });
  const reg = await register({ hosts: host!, prefix: prefix!, address: '127.0.0.1:7999', ttl: 5 });
  const n = await seen;
  await reg.close();
  await resolver.close();
  console.log(JSON.stringify({ seen: n, closed: true }));
  // No process.exit(): the test asserts that the process ends by itself.
} else if (mode === 'dead') {
  // HOST is a port nothing listens on: the resolver's lists fail (reported, retried), register()
  // rejects; after close() the process must still exit by itself.
  const resolver = new EtcdResolver({ hosts: host!, prefix: prefix! });
  let errors = 0;
  let pushes = 0;
  await new Promise<void>((resolve) =>
    resolver.start({ onEndpoints: () => pushes++, onError: () => ++errors === 2 && resolve() }),
  );
  let rejected = '';
  try {
    await register({ hosts: host!, prefix: prefix!, address: '127.0.0.1:7998', ttl: 2 });
  } catch (err) {
    rejected = (err as { code?: string }).code ?? String(err);
  }
  await resolver.close();
  console.log(JSON.stringify({ errors: errors >= 2, pushes, rejected }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exitCode = 2;
}
